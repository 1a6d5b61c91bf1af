"""PEP 503 HTML index pages -> the page model, keeping where each link's start tag is.

`pkgate.edge.faithful` rewrites the upstream's document at those positions; when one cannot be
established the page is rendered by pkgate instead. html.parser is lenient, but its recovery from
unclosed constructs rescans the rest of the document (quadratic): that work is bounded and a page
that exceeds it is refused. Spec choices:
- `data-requires-python` is HTML-unescaped a second time, as pip does, because some indexes
  double-escape it; JSON clients then receive `>=3.8`, not `&gt;=3.8`.
- PEP 740 `data-provenance` is read as the URL of the provenance file (the living spec; an early
  draft put a digest there): a value that is not a URL makes the page bad, like a bad `href`.
- PEP 792 project status: `<meta name="pypi:project-status">` and `pypi:project-status-reason`;
  PyPI's `<!--SERIAL n-->` comment is the serial.
"""

from __future__ import annotations

import codecs
import html
import re
from html.parser import HTMLParser
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit

from pkgate.edge.pagecheck import HTML_WS, check_api_version, clean, clean_hashes, resolve_url
from pkgate.edge.pages import FileLink, HtmlSource, ProjectPage, RootPage, Tag
from pkgate.errors import PageError

__all__ = ["html_project", "html_root"]

_SERIAL_RE: Final = re.compile(r"[0-9]{1,20}")
_TEXT_CHARSETS: Final = frozenset(
    {"utf-8", "ascii", "iso8859-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be"}
)
_MAX_RESCAN: Final = 50_000_000  # characters html.parser may rescan while recovering from bad markup


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
            text = "".join(self._text).strip(HTML_WS)
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
        check_api_version(parser.api_version, where)
    return parser


def _html_metadata(value: str | None) -> bool | dict[str, str]:
    """PEP 658 attribute value: "true"/no value -> True, "<hash>=<hex>" -> hashes, "false" -> False."""
    if value is None or value.strip().lower() == "true":
        return True
    if value.strip().lower() == "false":
        return False
    name, sep, digest = value.partition("=")
    return (clean_hashes([(name, digest.strip())]) or True) if sep else True


def _html_file(attrs: dict[str, str | None], text: str, base: str, where: str) -> FileLink | None:
    href = attrs.get("href")
    if href is None:
        return None  # a named anchor, not a link
    url, fragment = resolve_url(href, base, where)
    filename = text or unquote(urlsplit(url).path.rpartition("/")[2])
    if not filename:
        return None  # e.g. a link back to an index page: not a file
    where = f"{where}: link {filename[:80]!r}"
    clean(filename, "filename", where)
    pairs = [(n, v) for n, sep, v in (p.partition("=") for p in fragment.split("&")) if sep]
    requires = attrs.get("data-requires-python")
    if requires is not None:
        requires = clean(html.unescape(requires), "data-requires-python", where) or None
    yanked: bool | str = False
    if "data-yanked" in attrs:
        yanked = clean(attrs["data-yanked"] or "", "data-yanked", where) or True
    if "data-core-metadata" in attrs:  # PEP 714: the new name wins
        core = _html_metadata(attrs["data-core-metadata"])
    elif "data-dist-info-metadata" in attrs:
        core = _html_metadata(attrs["data-dist-info-metadata"])
    else:
        core = False
    gpg = {"true": True, "false": False}.get((attrs.get("data-gpg-sig") or "").strip().lower())
    provenance = attrs.get("data-provenance")
    if provenance:
        provenance = resolve_url(provenance, base, f"{where}: data-provenance")[0]
    hashes = clean_hashes(pairs)
    return FileLink(filename, url, hashes, requires, yanked, core, gpg, provenance=provenance or None)


def html_project(body: bytes, content_type: str, page_url: str, name: str, where: str) -> ProjectPage:
    """The project page (see `pageparse.parse_project`); links resolve against its `<base href>`."""
    parser = _parse_html(body, content_type, where)
    base = page_url if parser.base is None else resolve_url(parser.base, page_url, where)[0]
    files: list[FileLink] = []
    tags = list(parser.bases)
    for anchor in parser.anchors:
        link = _html_file(anchor.attrs, anchor.text, base, where)
        if link is not None:
            tags.append(Tag(anchor.start, anchor.end, len(files)))
            files.append(link)
    meta = {k: clean(v, k, where) for k, v in parser.meta.items()}
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


def html_root(body: bytes, content_type: str, where: str) -> RootPage:
    """The project list (see `pageparse.parse_root`)."""
    parser = _parse_html(body, content_type, where)
    names: list[str] = []
    tags = list(parser.bases)
    for anchor in parser.anchors:
        if anchor.text and "href" in anchor.attrs:
            tags.append(Tag(anchor.start, anchor.end, len(names)))
            names.append(clean(anchor.text, "project name", where))
    version = parser.api_version
    return RootPage(
        names,
        None if version is None else clean(version, "api-version", where),
        _html_source(parser.document, tags),
    )
