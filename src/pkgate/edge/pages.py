"""Index pages: one model for PEP 503 HTML and PEP 691 JSON, with strict parsers and renderers.

An upstream page is parsed into `ProjectPage`/`RootPage`, file links are rewritten by the caller, and
the page is rendered in whichever format the client negotiated. Parsing is where untrusted text
enters the gateway, so it refuses (with `PageError`) anything that could later corrupt a response:
URLs that are not http(s), and control characters in any value (a CR/LF in a URL would split the
Location header of a redirect). Upstream URLs are stored absolute, without fragment, and with
characters that are illegal in an HTTP header percent-encoded.

The parsed page keeps the upstream's own document (`JsonSource`/`HtmlSource`): a client that
asks for the upstream's format gets that document back with only the file (and PEP 740 provenance)
URLs changed, every key, attribute and `<meta>` tag kept in order, known to pkgate or not
(`pkgate.edge.faithful`). The model fields serve conversions between the formats (`render.py`),
routing and merges.

Spec choices worth knowing (details at each function):
- `data-requires-python` is HTML-unescaped a second time, as pip does, because some indexes
  double-escape it; JSON clients then receive `>=3.8`, not `&gt;=3.8`.
- PEP 740 `provenance` / `data-provenance` is read as the URL of the provenance file (the living
  spec; an early draft put a digest there): a string that is not a URL makes the page bad, like a
  bad `href`. A non-string JSON value is kept in the document but not in the model.
- PEP 792 project status: JSON `project-status: {status, reason}` beside `meta`; HTML
  `<meta name="pypi:project-status">` and `pypi:project-status-reason`.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any, Final, NamedTuple
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import msgspec

from pkgate.edge.negotiate import HTML_LEGACY, HTML_V1, JSON_V1
from pkgate.errors import PageError

__all__ = [
    "FileLink",
    "HtmlSource",
    "JsonSource",
    "ProjectPage",
    "RootPage",
    "Tag",
    "parse_project",
    "parse_root",
]


class FileLink(msgspec.Struct):
    """One distribution file of a project page."""

    filename: str
    url: str  # absolute http(s) upstream URL, no fragment
    hashes: dict[str, str]  # lowercase hash name -> hex digest
    requires_python: str | None = None
    yanked: bool | str = False  # PEP 592: False, True, or the (non-empty) reason
    core_metadata: bool | dict[str, str] = False  # PEP 658/714: False, True, or the .metadata hashes
    gpg_sig: bool | None = None
    size: int | None = None  # PEP 700
    upload_time: str | None = None  # PEP 700, as the upstream wrote it
    provenance: str | None = None  # PEP 740: absolute http(s) URL of the provenance file


class Tag(msgspec.Struct, array_like=True):
    """A start tag of the upstream's HTML (`text[start:end]`) that faithful output rewrites:
    an anchor for `item` (file or project index), or a `<base href>` to drop (`item` -1)."""

    start: int
    end: int
    item: int


class HtmlSource(msgspec.Struct):
    """The upstream's HTML, decoded, and where its links are."""

    text: str
    tags: list[Tag]


class JsonSource(msgspec.Struct):
    """The upstream's JSON as received (re-decoded on render: bytes hold far less than objects)."""

    body: bytes


class ProjectPage(msgspec.Struct):
    name: str
    files: list[FileLink]
    versions: list[str] | None = None  # PEP 700
    last_serial: str | None = None  # PEP 691 meta "_last-serial" / PyPI's HTML "<!--SERIAL n-->"
    api_version: str | None = None  # PEP 629, as the upstream declared it
    status: str | None = None  # PEP 792 project status marker
    status_reason: str | None = None  # PEP 792
    source: JsonSource | HtmlSource | None = None  # None: built by pkgate (a merge, a test)


class RootPage(msgspec.Struct):
    projects: list[str]
    api_version: str | None = None
    source: JsonSource | HtmlSource | None = None


_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HTML_WS: Final = " \t\n\r\f"
_HASH_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_HEX_RE: Final = re.compile(r"[0-9a-fA-F]{1,256}")
_SERIAL_RE: Final = re.compile(r"[0-9]{1,20}")
# Characters kept as-is in a stored URL: RFC 3986 reserved + unreserved + '%'; the rest is encoded.
_URL_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"
# An absolute http(s) URL that needs no joining, fragment removal nor encoding (fast path).
_PLAIN_URL_RE: Final = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9!$%&'()*+,/:;=?@~._-]*")
_TEXT_CHARSETS: Final = frozenset(
    {"utf-8", "ascii", "iso8859-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be"}
)
_SUPPORTED_MAJOR: Final = "1"
_MAX_RESCAN: Final = 50_000_000  # characters html.parser may rescan while recovering from bad markup


# --- validation helpers -------------------------------------------------------------------------


def _clean(text: str, what: str, where: str) -> str:
    """`text` unchanged, or PageError if it holds a control character."""
    if _CONTROL_RE.search(text):
        raise PageError(f"{where}: {what} contains a control character: {text[:80]!r}")
    return text


def _clean_hashes(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Well-formed `name -> hex` entries; anything else is dropped (hashes are only a SHOULD)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.strip().lower()
        if _HASH_NAME_RE.fullmatch(key) and _HEX_RE.fullmatch(value):
            out.setdefault(key, value)
    return out


def _resolve(href: str, base: str, where: str) -> tuple[str, str]:
    """(absolute URL without fragment, fragment) of `href`, or PageError unless it is http(s)."""
    if _PLAIN_URL_RE.fullmatch(href):
        return href, ""  # the common case, already what urljoin + quote would return
    href = _clean(href.strip(_HTML_WS), "URL", where)
    try:
        url, fragment = urldefrag(urljoin(base, href))
        parts = urlsplit(url)
    except ValueError as exc:
        raise PageError(f"{where}: malformed URL {href[:200]!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PageError(f"{where}: URL is not an absolute http(s) URL: {href[:200]!r}")
    return quote(url, safe=_URL_SAFE), fragment


def _check_api_version(version: str, where: str) -> None:
    """PEP 629: a client MUST fail on a major version it does not know."""
    if version.partition(".")[0].strip() != _SUPPORTED_MAJOR:
        raise PageError(f"{where}: unsupported repository API version {version[:40]!r}")


def _kind(body: bytes, content_type: str) -> str:
    """'json' or 'html' from the Content-Type, sniffing the body when the type is missing or foreign."""
    ctype = content_type.partition(";")[0].strip().lower()
    if ctype in (JSON_V1, "application/vnd.pypi.simple.latest+json"):
        return "json"
    if ctype in (HTML_V1, HTML_LEGACY, "application/vnd.pypi.simple.latest+html"):
        return "html"
    if ctype.startswith("application/vnd.pypi.simple."):
        raise PageError(f"unsupported simple API content type {ctype[:80]!r}")
    head = body[:256].lstrip(b"\xef\xbb\xbf \t\r\n\f")
    if head.startswith(b"{"):
        return "json"
    if head.startswith(b"<"):
        return "html"
    raise PageError(f"not an index page: content type {ctype[:80]!r} and the body is neither HTML nor JSON")


# --- HTML ---------------------------------------------------------------------------------------


class _Anchor(NamedTuple):
    attrs: dict[str, str | None]
    text: str
    start: int  # offset of its start tag in the document, -1 if unknown
    end: int


_META_NAMES: Final = ("pypi:repository-version", "pypi:project-status", "pypi:project-status-reason")


class _AnchorParser(HTMLParser):
    """Collects anchors (attributes, text, where the start tag is), the first `<base href>` (and
    where every `<base href>` is), the `pypi:` meta values and the serial."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.document = document
        self.anchors: list[_Anchor] = []
        self.base: str | None = None
        self.bases: list[Tag] = []
        self.meta: dict[str, str] = {}
        self.serial: str | None = None
        self._attrs: dict[str, str | None] | None = None
        self._span = (-1, -1)
        self._text: list[str] = []
        self._rescanned = 0
        self._line, self._line_start = 1, 0  # getpos() only grows: walk the line starts once

    @property
    def api_version(self) -> str | None:
        return self.meta.get("pypi:repository-version")

    def _tag_span(self) -> tuple[int, int]:
        """Offsets of the start tag being handled, (-1, -1) if they cannot be trusted."""
        line, column = self.getpos()
        while self._line < line:
            self._line_start = self.document.index("\n", self._line_start) + 1
            self._line += 1
        start = self._line_start + column
        raw = self.get_starttag_text() or ""
        if not raw or not self.document.startswith(raw, start):
            return -1, -1
        return start, start + len(raw)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._finish()  # an <a> start implicitly closes an open one
            self._attrs = {}
            for key, value in attrs:
                self._attrs.setdefault(key, value)  # HTML: the first duplicate attribute wins
            self._span = self._tag_span()
        elif tag == "base":
            found = dict(attrs)
            if "href" in found:
                if self.base is None:
                    self.base = found["href"]
                start, end = self._tag_span()
                self.bases.append(Tag(start, end, -1))
        elif tag == "meta":
            found = dict(attrs)
            name, content = found.get("name"), found.get("content")
            if name in _META_NAMES and content is not None:
                self.meta.setdefault(name, content)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._finish()

    def handle_data(self, data: str) -> None:
        if len(data) > 1 and data[0] == "<":
            # html.parser's recovery from an unclosed construct (`<a<a<a...`, `<!--` without `-->`)
            # rescans the rest of the document each time: quadratic. Bound that work.
            self._rescanned += len(self.rawdata)
            if self._rescanned > _MAX_RESCAN:
                raise PageError("HTML has too many unclosed tags or comments")
        if self._attrs is not None:
            self._text.append(data)

    def handle_comment(self, data: str) -> None:
        key, _, value = data.strip().partition(" ")
        if key == "SERIAL" and _SERIAL_RE.fullmatch(value.strip()) and self.serial is None:
            self.serial = value.strip()

    def close(self) -> None:
        super().close()
        self._finish()

    def _finish(self) -> None:
        if self._attrs is not None:
            text = "".join(self._text).strip(_HTML_WS)
            self.anchors.append(_Anchor(self._attrs, text, *self._span))
        self._attrs, self._text = None, []


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            try:
                name = codecs.lookup(value.strip().strip("\"'")).name
            except LookupError:
                return "utf-8"
            return name if name in _TEXT_CHARSETS else "utf-8"
    return "utf-8"


def _parse_html(body: bytes, content_type: str, where: str) -> _AnchorParser:
    parser = _AnchorParser(body.decode(_charset(content_type), errors="replace"))
    try:
        parser.feed(parser.document)
        parser.close()
    except PageError as exc:
        raise PageError(f"{where}: {exc}") from None
    except Exception as exc:  # html.parser is lenient but can still fail on pathological markup
        raise PageError(f"{where}: unparseable HTML: {exc}") from exc
    if parser.api_version is not None and parser.api_version.partition(".")[0].strip().isdigit():
        _check_api_version(parser.api_version, where)
    return parser


def _html_metadata(value: str | None) -> bool | dict[str, str]:
    """PEP 658 attribute value: "true"/no value -> True, "<hash>=<hex>" -> hashes, "false" -> False."""
    if value is None or value.strip().lower() == "true":
        return True
    if value.strip().lower() == "false":
        return False
    name, sep, digest = value.partition("=")
    return (_clean_hashes([(name, digest.strip())]) or True) if sep else True


def _html_file(attrs: dict[str, str | None], text: str, base: str, where: str) -> FileLink | None:
    href = attrs.get("href")
    if href is None:
        return None  # a named anchor, not a link
    url, fragment = _resolve(href, base, where)
    filename = text or unquote(urlsplit(url).path.rpartition("/")[2])
    if not filename:
        return None  # e.g. a link back to an index page: not a file
    where = f"{where}: link {filename[:80]!r}"
    _clean(filename, "filename", where)
    pairs = [(n, v) for n, sep, v in (p.partition("=") for p in fragment.split("&")) if sep]
    requires = attrs.get("data-requires-python")
    if requires is not None:
        requires = _clean(html.unescape(requires), "data-requires-python", where) or None
    yanked: bool | str = False
    if "data-yanked" in attrs:
        yanked = _clean(attrs["data-yanked"] or "", "data-yanked", where) or True
    if "data-core-metadata" in attrs:  # PEP 714: the new name wins
        core = _html_metadata(attrs["data-core-metadata"])
    elif "data-dist-info-metadata" in attrs:
        core = _html_metadata(attrs["data-dist-info-metadata"])
    else:
        core = False
    gpg = {"true": True, "false": False}.get((attrs.get("data-gpg-sig") or "").strip().lower())
    provenance = attrs.get("data-provenance")
    if provenance:
        provenance = _resolve(provenance, base, f"{where}: data-provenance")[0]
    hashes = _clean_hashes(pairs)
    return FileLink(filename, url, hashes, requires, yanked, core, gpg, provenance=provenance or None)


# --- JSON ---------------------------------------------------------------------------------------


class _JMeta(msgspec.Struct):
    api_version: str = msgspec.field(name="api-version")
    last_serial: int | str | None = msgspec.field(default=None, name="_last-serial")


class _JStatus(msgspec.Struct):
    status: str | None = None
    reason: str | None = None


class _JFile(msgspec.Struct):
    filename: str
    url: str
    hashes: dict[str, str]
    requires_python: str | None = msgspec.field(default=None, name="requires-python")
    yanked: bool | str | None = None
    core_metadata: bool | dict[str, str] | None = msgspec.field(default=None, name="core-metadata")
    dist_info_metadata: bool | dict[str, str] | None = msgspec.field(default=None, name="dist-info-metadata")
    # Warehouse's mis-named key (the bug behind PEP 714); not standard, so any value is tolerated.
    data_dist_info_metadata: Any = msgspec.field(default=None, name="data-dist-info-metadata")
    gpg_sig: bool | None = msgspec.field(default=None, name="gpg-sig")
    size: int | None = None
    upload_time: str | None = msgspec.field(default=None, name="upload-time")
    provenance: Any = None  # PEP 740: a URL; anything else is kept in the document only


class _JProject(msgspec.Struct):
    meta: _JMeta
    files: list[_JFile]
    name: str | None = None
    versions: list[str] | None = None
    project_status: _JStatus | None = msgspec.field(default=None, name="project-status")


class _JName(msgspec.Struct):
    name: str


class _JRoot(msgspec.Struct):
    meta: _JMeta
    projects: list[_JName]


_PROJECT_DECODER: Final = msgspec.json.Decoder(_JProject)
_ROOT_DECODER: Final = msgspec.json.Decoder(_JRoot)


def _json_metadata(value: object) -> bool | dict[str, str] | None:
    """PEP 691/714 metadata value (None when absent or unusable); truthiness decides presence."""
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return (_clean_hashes(value.items()) or True) if value else False
    return None


def _json_file(raw: _JFile, base: str, where: str) -> FileLink:
    if not raw.filename:
        raise PageError(f"{where}: a file has an empty filename")
    where = f"{where}: file {raw.filename[:80]!r}"
    _clean(raw.filename, "filename", where)
    url, _fragment = _resolve(raw.url, base, where)
    requires = _clean(raw.requires_python, "requires-python", where) if raw.requires_python else None
    yanked: bool | str = raw.yanked or False  # PEP 691 truthiness (and pip): "" is not yanked
    if isinstance(yanked, str):
        _clean(yanked, "yanked reason", where)
    core = _json_metadata(raw.core_metadata)
    for fallback in (raw.dist_info_metadata, raw.data_dist_info_metadata):
        core = _json_metadata(fallback) if core is None else core
    if raw.size is not None and raw.size < 0:
        raise PageError(f"{where}: negative size {raw.size}")
    upload = _clean(raw.upload_time, "upload-time", where) if raw.upload_time is not None else None
    hashes = _clean_hashes(raw.hashes.items())
    provenance = None
    if isinstance(raw.provenance, str) and raw.provenance:
        provenance = _resolve(raw.provenance, base, f"{where}: provenance")[0]
    return FileLink(
        raw.filename, url, hashes, requires, yanked, core or False, raw.gpg_sig, raw.size, upload, provenance
    )


def _decode_json(decoder: msgspec.json.Decoder[Any], body: bytes, where: str) -> Any:
    try:
        parsed = decoder.decode(body)
        msgspec.json.decode(body)  # the whole document must re-decode for faithful output
    except msgspec.DecodeError as exc:  # includes ValidationError: wrong type or missing key
        raise PageError(f"{where}: malformed JSON index page: {exc}") from exc
    return parsed


def _optional(value: str | None, what: str, where: str) -> str | None:
    return None if value is None else _clean(value, what, where)


def _serial(value: int | str | None, where: str) -> str | None:
    return None if value is None else _clean(str(value), "_last-serial", where)


# --- public parsers -----------------------------------------------------------------------------


def parse_project(body: bytes, content_type: str, page_url: str, name: str) -> ProjectPage:
    """The project page at `page_url`; relative links resolve against it (or its `<base href>`)."""
    where = f"project page {page_url[:200]}"
    if _kind(body, content_type) == "json":
        return _json_project(body, page_url, name, where)
    return _html_project(body, content_type, page_url, name, where)


def _json_project(body: bytes, page_url: str, name: str, where: str) -> ProjectPage:
    raw: _JProject = _decode_json(_PROJECT_DECODER, body, where)
    _check_api_version(raw.meta.api_version, where)
    files = [_json_file(f, page_url, where) for f in raw.files]
    versions = [_clean(v, "version", where) for v in raw.versions] if raw.versions is not None else None
    page_name = _clean(raw.name, "name", where) if raw.name else name
    st = raw.project_status or _JStatus()
    return ProjectPage(
        page_name,
        files,
        versions,
        _serial(raw.meta.last_serial, where),
        _clean(raw.meta.api_version, "api-version", where),
        _optional(st.status, "project status", where),
        _optional(st.reason, "project status reason", where),
        JsonSource(body),
    )


def _html_project(body: bytes, content_type: str, page_url: str, name: str, where: str) -> ProjectPage:
    parser = _parse_html(body, content_type, where)
    base = page_url if parser.base is None else _resolve(parser.base, page_url, where)[0]
    files: list[FileLink] = []
    tags = list(parser.bases)
    for anchor in parser.anchors:
        link = _html_file(anchor.attrs, anchor.text, base, where)
        if link is not None:
            tags.append(Tag(anchor.start, anchor.end, len(files)))
            files.append(link)
    meta = {k: _clean(v, k, where) for k, v in parser.meta.items()}
    return ProjectPage(
        name,
        files,
        None,
        parser.serial,
        meta.get("pypi:repository-version"),
        meta.get("pypi:project-status"),
        meta.get("pypi:project-status-reason"),
        _html_source(parser.document, tags),
    )


def _html_source(document: str, tags: list[Tag]) -> HtmlSource | None:
    """The document with its link positions, or None (pkgate renders the page itself) when a
    position could not be established."""
    if any(t.start < 0 for t in tags):
        return None
    return HtmlSource(document, sorted(tags, key=lambda t: t.start))


def parse_root(body: bytes, content_type: str) -> RootPage:
    """The project list; names are kept as listed (PEP 691: display or normalised, either)."""
    where = "root page"
    if _kind(body, content_type) == "json":
        raw: _JRoot = _decode_json(_ROOT_DECODER, body, where)
        _check_api_version(raw.meta.api_version, where)
        names = [_clean(p.name, "project name", where) for p in raw.projects if p.name]
        # A nameless entry would be skipped here but not in the document: render it ourselves then.
        source = JsonSource(body) if len(names) == len(raw.projects) else None
        return RootPage(names, _clean(raw.meta.api_version, "api-version", where), source)
    parser = _parse_html(body, content_type, where)
    names = []
    tags = list(parser.bases)
    for anchor in parser.anchors:
        if anchor.text and "href" in anchor.attrs:
            tags.append(Tag(anchor.start, anchor.end, len(names)))
            names.append(_clean(anchor.text, "project name", where))
    version = parser.api_version
    return RootPage(
        names,
        None if version is None else _clean(version, "api-version", where),
        _html_source(parser.document, tags),
    )
