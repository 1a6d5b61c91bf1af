"""Rendering index pages (PEP 503 HTML, PEP 691 JSON).

A page in the format its upstream used is the upstream's own document with the links changed
(`pkgate.edge.faithful`). Otherwise (a conversion, or a page pkgate built, e.g. a merge) it is
rendered from the model, carrying every field of PEPs 503, 592, 629, 658, 691, 700, 714, 740 and
792 that the model holds:

- PEP 714: both `core-metadata` and `dist-info-metadata`, in JSON as in HTML, with one value;
- PEP 740: `provenance` / `data-provenance`, a signed link like the file's;
- PEP 792: `project-status: {status, reason}` / `<meta name="pypi:project-status(-reason)">`;
- `_last-serial` is a JSON string (as PyPI sends it) and an HTML `<!--SERIAL n-->` comment;
- PEP 700 (`versions`, `size`, `upload-time`) has no HTML form. JSON `meta.api-version` is "1.0"
  unless PEP 700 can be honoured (every file has a size, `versions` is known or derivable from every
  filename): then the upstream's declared version when it is higher, else "1.1". HTML announces
  the upstream's declared version (or the same one as JSON, for a page pkgate built).

The caller passes how each file link, provenance link and project URL is rewritten; output is
deterministic (same page -> same bytes), because the gateway hashes it for the ETag.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any, Final

import msgspec

from pkgate.edge import faithful
from pkgate.edge.names import parse_filename
from pkgate.edge.pages import FileLink, HtmlSource, JsonSource, ProjectPage, RootPage

__all__ = ["render_project_html", "render_project_json", "render_root_html", "render_root_json"]

_SERIAL_RE: Final = re.compile(r"[0-9]{1,20}")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _first_hash(hashes: dict[str, str]) -> tuple[str, str] | None:
    """sha256 when present (pip and PEP 503 recommend it), else the first hash listed."""
    if "sha256" in hashes:
        return "sha256", hashes["sha256"]
    return next(iter(hashes.items()), None)


def _minor(version: str | None) -> int:
    major, _, minor = (version or "").partition(".")
    return int(minor) if major.strip() == "1" and minor.strip().isdigit() else -1


def _versions_and_api(page: ProjectPage) -> tuple[list[str] | None, str]:
    """The `versions` to publish (given, else derived from filenames) and the API version to claim."""
    versions = page.versions
    if versions is None:
        parsed = [parse_filename(f.filename) for f in page.files]
        if all(p is not None for p in parsed):
            versions = list(dict.fromkeys(p[1] for p in parsed if p is not None))
    complete = versions is not None and all(f.size is not None for f in page.files)
    if not complete:
        return versions, "1.0"
    declared = page.api_version
    return versions, declared if declared is not None and _minor(declared) > 1 else "1.1"


def _head(api_version: str, title: str, meta: list[tuple[str, str]] = []) -> list[str]:  # noqa: B006
    return [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        '    <meta charset="utf-8">',
        f'    <meta name="pypi:repository-version" content="{_esc(api_version)}">',
        *(f'    <meta name="{_esc(name)}" content="{_esc(value)}">' for name, value in meta),
        f"    <title>{_esc(title)}</title>",
        "  </head>",
        "  <body>",
    ]


def _html_anchor(f: FileLink, href: str, provenance: str | None) -> str:
    digest = _first_hash(f.hashes)
    attrs = [f'href="{_esc(href if digest is None else f"{href}#{digest[0]}={digest[1]}")}"']
    if f.requires_python is not None:
        attrs.append(f'data-requires-python="{_esc(f.requires_python)}"')
    if f.yanked is not False:  # an explicit value: pip reads a value-less attribute as "not yanked"
        attrs.append(f'data-yanked="{_esc(f.yanked if isinstance(f.yanked, str) else "")}"')
    if f.core_metadata:
        meta = _first_hash(f.core_metadata) if isinstance(f.core_metadata, dict) else None
        value = _esc("true" if meta is None else f"{meta[0]}={meta[1]}")
        attrs.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
    if f.gpg_sig is not None:
        attrs.append(f'data-gpg-sig="{"true" if f.gpg_sig else "false"}"')
    if provenance is not None:
        attrs.append(f'data-provenance="{_esc(provenance)}"')
    return f"    <a {' '.join(attrs)}>{_esc(f.filename)}</a><br>"


FileUrl = Callable[[FileLink], str]


def _upstream_provenance(f: FileLink) -> str:
    return f.provenance or ""


def _status_meta(page: ProjectPage) -> list[tuple[str, str]]:
    meta = []
    if page.status is not None:
        meta.append(("pypi:project-status", page.status))
    if page.status_reason is not None:
        meta.append(("pypi:project-status-reason", page.status_reason))
    return meta


def render_project_html(
    page: ProjectPage, link: FileUrl, provenance: FileUrl = _upstream_provenance
) -> bytes:
    """PEP 503 page; `link(f)` gives each file's href, `provenance(f)` its PEP 740 link."""
    if isinstance(page.source, HtmlSource):
        return faithful.project_html(page, page.source, link, provenance)
    _versions, api_version = _versions_and_api(page)
    lines = _head(page.api_version or api_version, f"Links for {page.name}", _status_meta(page))
    lines.append(f"    <h1>Links for {_esc(page.name)}</h1>")
    lines.extend(
        _html_anchor(f, link(f), None if f.provenance is None else provenance(f)) for f in page.files
    )
    lines += ["  </body>", "</html>"]
    if page.last_serial is not None and _SERIAL_RE.fullmatch(page.last_serial):
        lines.append(f"<!--SERIAL {page.last_serial}-->")
    return ("\n".join(lines) + "\n").encode()


def _json_file_out(f: FileLink, url: str, provenance: FileUrl) -> dict[str, Any]:
    out: dict[str, Any] = {"filename": f.filename, "url": url, "hashes": f.hashes}
    if f.requires_python is not None:
        out["requires-python"] = f.requires_python
    if f.yanked is not False:
        out["yanked"] = f.yanked or True  # PEP 691: a reason string must not be empty
    if f.core_metadata:
        out["core-metadata"] = out["dist-info-metadata"] = f.core_metadata  # PEP 714: both
    if f.provenance is not None:
        out["provenance"] = provenance(f)
    if f.gpg_sig is not None:
        out["gpg-sig"] = f.gpg_sig
    if f.size is not None:
        out["size"] = f.size
    if f.upload_time is not None:
        out["upload-time"] = f.upload_time
    return out


def render_project_json(
    page: ProjectPage, link: FileUrl, provenance: FileUrl = _upstream_provenance
) -> bytes:
    """PEP 691 JSON; deterministic bytes for a given page, since callers hash it for ETags."""
    if isinstance(page.source, JsonSource):
        return faithful.project_json(page, page.source, link, provenance)
    versions, api_version = _versions_and_api(page)
    meta: dict[str, Any] = {"api-version": api_version}
    if page.last_serial is not None:
        meta["_last-serial"] = page.last_serial  # a string, as PyPI sends it
    doc: dict[str, Any] = {
        "meta": meta,
        "name": page.name,
        "files": [_json_file_out(f, link(f), provenance) for f in page.files],
    }
    if versions is not None:
        doc["versions"] = versions
    if page.status is not None or page.status_reason is not None:
        status = {"status": page.status, "reason": page.status_reason}
        doc["project-status"] = {k: v for k, v in status.items() if v is not None}
    return msgspec.json.encode(doc)


def render_root_html(root: RootPage, project_url: Callable[[str], str]) -> bytes:
    """PEP 503 root: one anchor per project."""
    if isinstance(root.source, HtmlSource):
        return faithful.root_html(root, root.source, project_url)
    lines = _head(root.api_version or "1.0", "Simple index")
    lines.extend(f'    <a href="{_esc(project_url(n))}">{_esc(n)}</a><br>' for n in root.projects)
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def render_root_json(root: RootPage, project_url: Callable[[str], str]) -> bytes:
    """PEP 691 root. PEP 691 has no URL per project (clients build `/<normalised>/`), so
    `project_url` is unused here; it is accepted to keep both root renderers interchangeable."""
    del project_url
    if isinstance(root.source, JsonSource):
        return faithful.root_json(root.source)
    return msgspec.json.encode(
        {"meta": {"api-version": root.api_version or "1.0"}, "projects": [{"name": n} for n in root.projects]}
    )
