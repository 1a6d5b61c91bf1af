"""Plain files through the gateway: `/dl/<name>/<version>/<file>` -> the origin's URL template.

Each `[[files]]` entry names a gateway path and an origin URL template (GitHub releases, S3, a
CDN) with `{version}` and `{file}` placeholders. A request is answered with a redirect to the
template filled with the request's version and file (percent-encoded, so they can never leave the
path of the template's fixed host: no open redirect); anything else — an unknown name, a version
or file outside the entry's patterns or not a plain name, another depth — is a 404. No upstream
is asked: the origin answers the client itself, as for Python files.

Events: kind `file` for GET and HEAD alike (reports count a GET redirect as a download and a HEAD
as an attempt), project = the entry's name, version and filename from the path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, unquote

from pkgate.config import FileSource
from pkgate.edge.answers import method_not_allowed, text
from pkgate.edge.ecosystem import FILE, OTHER, Answer, Build, Ecosystem, Facts, FileTarget, Paths, Request
from pkgate.edge.failover import UpstreamHandle

__all__ = ["MODULE", "FilesEcosystem", "FilesModule", "Source"]

PREFIX: Final = "/dl/"
#: A version or file name: one plain path segment (no '/', never '.' or '..').
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,254}")


def _glob(patterns: list[str]) -> re.Pattern[str]:
    parts = ("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p) for p in patterns)
    return re.compile("|".join(f"(?:{p})" for p in parts))


class Source:
    """One `[[files]]` entry, compiled."""

    def __init__(self, src: FileSource) -> None:
        self.name = src.name
        self.template = src.url
        self.files = _glob(src.files)
        self.versions = _glob(src.versions)

    def target(self, version: str, filename: str) -> str | None:
        """The origin URL for a version and file, or None when the entry does not serve them."""
        if not _SEGMENT.fullmatch(version) or not _SEGMENT.fullmatch(filename):
            return None
        if not self.versions.fullmatch(version) or not self.files.fullmatch(filename):
            return None
        return self.template.replace("{version}", quote(version, safe="+~")).replace(
            "{file}", quote(filename, safe="+~")
        )


class FilesEcosystem:
    name: Final = "files"

    def __init__(self, sources: list[FileSource]) -> None:
        self.sources = {s.name: Source(s) for s in sources}
        # No `[[files]]`: claim nothing, `/dl/...` is the gateway's own 404.
        self.paths = Paths(prefixes=(PREFIX,)) if self.sources else Paths()

    @property
    def upstreams(self) -> Mapping[str, UpstreamHandle[Any]]:
        return {}

    async def handle(self, request: Request, facts: Facts) -> Answer:
        parts = request.path[len(PREFIX) :].split("/")
        source = self.sources.get(unquote(parts[0]))
        if source is None or len(parts) != 3:
            return Answer(text(404, "not found"), OTHER)
        version, filename = unquote(parts[1]), unquote(parts[2])
        facts.project = source.name
        if request.method not in ("GET", "HEAD"):
            return Answer(method_not_allowed(), FILE)
        url = source.target(version, filename)
        if url is None:
            return Answer(text(404, f"not found: {source.name} has no {version}/{filename[:200]}"), FILE)
        return Answer(
            FileTarget(FILE, url, Facts(project=source.name, version=version, filename=filename)), FILE
        )


class FilesModule:
    name: Final = "files"

    def build(self, build: Build, previous: Ecosystem | None) -> FilesEcosystem:
        return FilesEcosystem(build.cfg.files)


MODULE: Final = FilesModule()
