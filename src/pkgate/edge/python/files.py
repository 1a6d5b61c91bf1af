"""Python file links: `/files/<project>/<token>/<file>`, signed over `"<upstream> <url>"`.

`<file>.metadata` is the PEP 658 metadata of `<file>`, at the file URL plus `.metadata`; it shares
the file's signature. `<file>.provenance` is the PEP 740 provenance of `<file>`, signed under that
name with the provenance URL the upstream listed; it is recorded as kind `metadata`. Links signed before upstream names were part of them still verify (lock files
keep them). Events record the link as `/files/<project>/<file>`, without the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from pkgate.edge import links
from pkgate.edge.answers import text
from pkgate.edge.ecosystem import FILE, METADATA, Facts, FileTarget, Response
from pkgate.edge.names import parse_filename
from pkgate.edge.python.table import Handle
from pkgate.errors import LinkError

__all__ = ["resolve_file"]


def resolve_file(path: str, signer: links.LinkSigner, proxied: Mapping[str, Handle]) -> FileTarget | Response:
    """Verify a file link and work out its target and event facts (or a 404 answer)."""
    parts = path[len(links.PREFIX) :].split("/")
    if len(parts) != 3:
        return text(404, "not found: malformed file link")
    project, token, quoted = parts
    filename = unquote(quoted)
    is_meta = filename.endswith(links.METADATA_SUFFIX)
    dist = filename[: -len(links.METADATA_SUFFIX)] if is_meta else filename
    try:
        signed = signer.verify(project, token, dist)
    except LinkError:
        return text(404, "not found: unknown or tampered file link")
    upstream, sep, url = signed.partition(" ")
    if not sep:  # a link signed before upstream names were part of it
        upstream, url = "", signed
    is_provenance = dist.endswith(links.PROVENANCE_SUFFIX)  # its URL is signed as it is
    if is_provenance:
        dist = dist[: -len(links.PROVENANCE_SUFFIX)]
    parsed = parse_filename(dist)
    facts = Facts(
        project=project,
        filename=dist,
        version=parsed[1] if parsed is not None else None,
        upstream=upstream or None,
    )
    return FileTarget(
        METADATA if is_meta or is_provenance else FILE,
        links.metadata_url(url) if is_meta else url,
        facts,
        proxied.get(upstream) if upstream else None,
        path=f"{links.PREFIX}{project}/{quoted}",  # recorded without the signed token
    )
