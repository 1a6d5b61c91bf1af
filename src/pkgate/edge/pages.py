"""Index pages: one model for PEP 503 HTML and PEP 691 JSON, with strict parsers and renderers.

An upstream page is parsed into `ProjectPage`/`RootPage`, file links are rewritten by the caller, and
the page is rendered in whichever format the client negotiated. Parsing is where untrusted text
enters the gateway, so it refuses (with `PageError`) anything that could later corrupt a response:
URLs that are not http(s), and control characters in any value (a CR/LF in a URL would split the
Location header of a redirect). Upstream URLs are stored absolute, without fragment, and with
characters that are illegal in an HTTP header percent-encoded.

Spec choices worth knowing (details at each function):
- `data-requires-python` is HTML-unescaped a second time, as pip does, because some indexes
  double-escape it; JSON clients then receive `>=3.8`, not `&gt;=3.8`.
- JSON output carries `core-metadata` but never the legacy `dist-info-metadata` key: PEP 714 says not
  to, since pip 22.3-23.1 crash on it. HTML output carries both attributes, as PEP 714 allows.
- `meta.api-version` is "1.1" only when PEP 700 can be honoured: every file has a size and
  `versions` is known or derivable from every filename; otherwise "1.0". HTML announces the same
  version so both serialisations agree (PEP 700 does not change HTML).
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import msgspec

from pkgate.edge.negotiate import HTML_LEGACY, HTML_V1, JSON_V1
from pkgate.errors import PageError

__all__ = [
    "FileLink",
    "ProjectPage",
    "RootPage",
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


class ProjectPage(msgspec.Struct):
    name: str
    files: list[FileLink]
    versions: list[str] | None = None  # PEP 700
    last_serial: str | None = None  # PEP 691 meta "_last-serial" / PyPI's HTML "<!--SERIAL n-->"


class RootPage(msgspec.Struct):
    projects: list[str]


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


class _AnchorParser(HTMLParser):
    """Collects anchors (attributes + text), the first `<base href>`, the API version and serial."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.base: str | None = None
        self.api_version: str | None = None
        self.serial: str | None = None
        self._attrs: dict[str, str | None] | None = None
        self._text: list[str] = []
        self._rescanned = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._finish()  # an <a> start implicitly closes an open one
            self._attrs = {}
            for key, value in attrs:
                self._attrs.setdefault(key, value)  # HTML: the first duplicate attribute wins
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "meta":
            found = dict(attrs)
            if found.get("name") == "pypi:repository-version" and self.api_version is None:
                self.api_version = found.get("content")

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
            self.anchors.append((self._attrs, "".join(self._text).strip(_HTML_WS)))
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
    parser = _AnchorParser()
    try:
        parser.feed(body.decode(_charset(content_type), errors="replace"))
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
    return FileLink(filename, url, _clean_hashes(pairs), requires, yanked, core, gpg)


# --- JSON ---------------------------------------------------------------------------------------


class _JMeta(msgspec.Struct):
    api_version: str = msgspec.field(name="api-version")
    last_serial: int | str | None = msgspec.field(default=None, name="_last-serial")


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


class _JProject(msgspec.Struct):
    meta: _JMeta
    files: list[_JFile]
    name: str | None = None
    versions: list[str] | None = None


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
    return FileLink(raw.filename, url, hashes, requires, yanked, core or False, raw.gpg_sig, raw.size, upload)


def _decode_json(decoder: msgspec.json.Decoder[Any], body: bytes, where: str) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:  # includes ValidationError: wrong type or missing key
        raise PageError(f"{where}: malformed JSON index page: {exc}") from exc


def _serial(value: int | str | None, where: str) -> str | None:
    return None if value is None else _clean(str(value), "_last-serial", where)


# --- public parsers -----------------------------------------------------------------------------


def parse_project(body: bytes, content_type: str, page_url: str, name: str) -> ProjectPage:
    """The project page at `page_url`; relative links resolve against it (or its `<base href>`)."""
    where = f"project page {page_url[:200]}"
    if _kind(body, content_type) == "json":
        raw: _JProject = _decode_json(_PROJECT_DECODER, body, where)
        _check_api_version(raw.meta.api_version, where)
        files = [_json_file(f, page_url, where) for f in raw.files]
        versions = [_clean(v, "version", where) for v in raw.versions] if raw.versions is not None else None
        page_name = _clean(raw.name, "name", where) if raw.name else name
        return ProjectPage(page_name, files, versions, _serial(raw.meta.last_serial, where))
    parser = _parse_html(body, content_type, where)
    base = page_url if parser.base is None else _resolve(parser.base, page_url, where)[0]
    links = (_html_file(attrs, text, base, where) for attrs, text in parser.anchors)
    return ProjectPage(name, [link for link in links if link is not None], None, parser.serial)


def parse_root(body: bytes, content_type: str) -> RootPage:
    """The project list; names are kept as listed (PEP 691: display or normalised, either)."""
    where = "root page"
    if _kind(body, content_type) == "json":
        raw: _JRoot = _decode_json(_ROOT_DECODER, body, where)
        _check_api_version(raw.meta.api_version, where)
        return RootPage([_clean(p.name, "project name", where) for p in raw.projects if p.name])
    parser = _parse_html(body, content_type, where)
    names = [
        _clean(text, "project name", where) for attrs, text in parser.anchors if text and "href" in attrs
    ]
    return RootPage(names)
