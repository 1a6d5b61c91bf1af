"""Requires-Dist of the files clients downloaded, read from the core metadata the upstream serves.

Run by the loader side (`pkgate.store.deps.refresh_requires`, from the gateway's periodic upkeep),
never on the request path. For each (project, version) downloaded it reads the project's page from
the upstream that served it, finds the file, and reads its core metadata: the PEP 658 `.metadata`
file when the page offers one, else the wheel's `*.dist-info/METADATA` (wheels up to
`MAX_WHEEL` bytes). Sdists without PEP 658 metadata have no reliable Requires-Dist and are
recorded as such. Only `http(s)` URLs are followed, every body is size-capped, and credentials go
only to the upstream's own host.
"""

from __future__ import annotations

import email.parser
import io
import json
import logging
import zipfile
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Final, NamedTuple
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["Fetched", "IndexFile", "MetadataFetcher", "UpstreamSite", "index_files", "requires_dist"]

log = logging.getLogger(__name__)

MAX_PAGE: Final = 32 * 1024 * 1024
MAX_METADATA: Final = 4 * 1024 * 1024
MAX_WHEEL: Final = 64 * 1024 * 1024
_JSON: Final = "application/vnd.pypi.simple.v1+json"


class Fetched(NamedTuple):
    """`status`: "ok" (with `requires`, maybe empty), "no-metadata" (an sdist without PEP 658
    metadata, a wheel too large), "not-found" (the file is not on the page) or "error"."""

    status: str
    requires: tuple[str, ...] = ()


class IndexFile(NamedTuple):
    url: str
    metadata: bool  # the page offers PEP 658 core metadata at url + ".metadata"


class _Body(NamedTuple):
    status: int
    body: bytes
    content_type: str
    url: str


class UpstreamSite(NamedTuple):
    url: str  # the simple index base URL, ending in "/"
    auth: tuple[str, str] | str | None = None


def requires_dist(text: str) -> tuple[str, ...]:
    """The normalised project names of a core metadata document's Requires-Dist fields (any
    marker, any extra); malformed fields are skipped, never an error."""
    msg = email.parser.HeaderParser().parsestr(text)
    names: set[str] = set()
    for line in msg.get_all("Requires-Dist") or []:
        try:
            names.add(canonicalize_name(Requirement(str(line)).name))
        except InvalidRequirement:
            continue
    return tuple(sorted(names))


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.files: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.files.append((self._open, "".join(self._text).strip()))
            self._open = None


def index_files(body: bytes, content_type: str, page_url: str) -> dict[str, IndexFile]:
    """filename -> file of a PEP 691 JSON or PEP 503 HTML project page (malformed: empty)."""
    out: dict[str, IndexFile] = {}
    if "json" in content_type:
        try:
            doc = json.loads(body)
        except ValueError:
            return out
        files = doc.get("files") if isinstance(doc, dict) else None
        for f in files if isinstance(files, list) else []:
            if isinstance(f, dict) and isinstance(f.get("filename"), str) and isinstance(f.get("url"), str):
                meta = f.get("core-metadata", f.get("dist-info-metadata", False))
                out[f["filename"]] = IndexFile(urldefrag(urljoin(page_url, f["url"]))[0], bool(meta))
        return out
    parser = _Anchors()
    try:
        parser.feed(body.decode("utf-8", "replace"))
    except Exception:  # html.parser is lenient; anything it still rejects is no page
        return out
    for attrs, text in parser.files:
        href = attrs.get("href")
        if not href:
            continue
        url = urldefrag(urljoin(page_url, href))[0]
        name = text or url.rsplit("/", 1)[-1]
        meta = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        out[name] = IndexFile(url, meta is not None and meta != "false")
    return out


def _wheel_metadata(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                parts = name.split("/")
                if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                    info = zf.getinfo(name)
                    if info.file_size > MAX_METADATA:
                        return None
                    return zf.read(name).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    return None


class MetadataFetcher:
    """Fetches Requires-Dist from the configured upstreams (synchronous: it runs off the request path)."""

    def __init__(self, sites: Mapping[str, UpstreamSite], default: str, timeout: float = 20.0) -> None:
        self.sites = dict(sites)
        self.default = default
        self.timeout = timeout
        self._http: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        """Made on first use (and again after `close`): a drain may follow a close."""
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, follow_redirects=True, max_redirects=5)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _get(self, url: str, site: UpstreamSite, limit: int, accept: str = "*/*") -> _Body | None:
        """GET with the body capped at `limit` bytes (None: not http(s), or too large)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return None
        own = urlsplit(site.url).netloc == parts.netloc
        headers = {"accept": accept, "user-agent": "pkgate-metadata"}
        auth: httpx.Auth | None = None
        if own and isinstance(site.auth, tuple):
            auth = httpx.BasicAuth(*site.auth)
        elif own and isinstance(site.auth, str):
            headers["authorization"] = f"Bearer {site.auth}"
        with self._client.stream("GET", url, headers=headers, auth=auth) as resp:
            chunks, size = [], 0
            if resp.status_code == 200:
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        return None
                    chunks.append(chunk)
            return _Body(
                resp.status_code, b"".join(chunks), resp.headers.get("content-type", ""), str(resp.url)
            )

    def fetch(self, upstream: str | None, project: str, filename: str) -> Fetched:
        """Requires-Dist of one file; never raises (network and format trouble is a status)."""
        site = self.sites.get(upstream or "") or self.sites.get(self.default)
        if site is None:
            return Fetched("error")
        try:
            page_url = urljoin(site.url, f"{project}/")
            page = self._get(page_url, site, MAX_PAGE, f"{_JSON}, text/html;q=0.1")
            if page is None or page.status != 200:
                return Fetched("error")
            found = index_files(page.body, page.content_type, page.url).get(filename)
            if found is None:
                return Fetched("not-found")
            if found.metadata:
                meta = self._get(found.url + ".metadata", site, MAX_METADATA)
                if meta is not None and meta.status == 200:
                    return Fetched("ok", requires_dist(meta.body.decode("utf-8", "replace")))
            if not filename.endswith(".whl"):
                return Fetched("no-metadata")
            wheel = self._get(found.url, site, MAX_WHEEL)
            if wheel is None:
                return Fetched("no-metadata")
            if wheel.status != 200:
                return Fetched("error")
            text = _wheel_metadata(wheel.body)
            return Fetched("ok", requires_dist(text)) if text is not None else Fetched("no-metadata")
        except httpx.HTTPError as exc:
            log.info("metadata of %s from %s: %s", filename, upstream, exc)
            return Fetched("error")
