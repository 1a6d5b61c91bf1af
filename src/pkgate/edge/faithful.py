"""Faithful pages: the upstream's own document with only its links changed.

A client that asks for the format the upstream answered in gets that document back: every JSON key
(top level, `meta`, each file) with its value and JSON type, every HTML attribute and `<meta>` tag,
in the upstream's order, including what no PEP (or no PEP pkgate knows) defines. Only these change:

- each file's URL (JSON `url`, HTML `href`) becomes its signed gateway link; an HTML hash fragment
  (`#sha256=...`) is kept, and so is a JSON one;
- a PEP 740 provenance URL (JSON `provenance`, HTML `data-provenance`) becomes a signed link too;
- HTML `<base href>` tags are dropped: the gateway's links are resolved already, and a base would
  send them back to the upstream's host;
- in an HTML root page, each project's `href` points at the gateway's page for it.

A rewritten HTML start tag is rebuilt from its parsed attributes (same names, values and order,
quoted and escaped afresh); a duplicate `href`/`data-provenance` is dropped, since parsers disagree
on which duplicate wins and the signed one must be the only one. The PEP 658 `.metadata` URL is the
file URL plus `.metadata`, so it follows the file link without a rewrite of its own.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urldefrag

import msgspec

from pkgate.edge.pages import FileLink, HtmlSource, JsonSource, ProjectPage, RootPage

__all__ = ["project_html", "project_json", "root_html", "root_json"]

FileUrl = Callable[[FileLink], str]
_HREF: Final = "href"
_PROVENANCE: Final = "data-provenance"


class _TagParser(HTMLParser):
    """The attributes of the first start tag fed (a rewritten tag is one start tag)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.attrs is None:
            self.attrs = attrs


def _attributes(raw: str) -> list[tuple[str, str | None]]:
    parser = _TagParser()
    parser.feed(raw)
    parser.close()
    return parser.attrs or []


def _rebuild(raw: str, attrs: list[tuple[str, str | None]], new: dict[str, str]) -> str:
    """`raw` (one start tag) with the first of each attribute in `new` set to its value and later
    duplicates of it dropped; everything else as parsed, in order."""
    parts = [raw[:2]]  # "<a" or "<A", as written
    done: set[str] = set()
    for name, value in attrs:
        if name in new:
            if name in done:
                continue
            done.add(name)
            value = new[name]
        parts.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
    return " ".join(parts) + ("/>" if raw.endswith("/>") else ">")


def _splice(source: HtmlSource, rewrite: Callable[[int, str], str]) -> bytes:
    text = source.text
    out: list[str] = []
    pos = 0
    for tag in source.tags:
        out.append(text[pos : tag.start])
        if tag.item >= 0:
            out.append(rewrite(tag.item, text[tag.start : tag.end]))
        pos = tag.end
    out.append(text[pos:])
    return "".join(out).encode()


def project_html(page: ProjectPage, source: HtmlSource, link: FileUrl, provenance: FileUrl) -> bytes:
    """The upstream's HTML project page with its file and provenance links rewritten."""

    def rewrite(item: int, raw: str) -> str:
        f = page.files[item]
        attrs = _attributes(raw)
        href = next((v for k, v in attrs if k == _HREF), None) or ""
        fragment = urldefrag(href.strip())[1]
        new = {_HREF: link(f) + ("#" + fragment if fragment else "")}
        if f.provenance is not None:
            new[_PROVENANCE] = provenance(f)
        return _rebuild(raw, attrs, new)

    return _splice(source, rewrite)


def project_json(page: ProjectPage, source: JsonSource, link: FileUrl, provenance: FileUrl) -> bytes:
    """The upstream's JSON project page with its `url` and `provenance` values rewritten."""
    doc: dict[str, Any] = msgspec.json.decode(source.body)
    for raw, f in zip(doc["files"], page.files, strict=True):
        fragment = urldefrag(raw["url"])[1]
        raw["url"] = link(f) + ("#" + fragment if fragment else "")
        if f.provenance is not None:
            raw["provenance"] = provenance(f)
    return msgspec.json.encode(doc)


def root_html(root: RootPage, source: HtmlSource, project_url: Callable[[str], str]) -> bytes:
    """The upstream's HTML root with each project's link pointing at the gateway's page."""

    def rewrite(item: int, raw: str) -> str:
        return _rebuild(raw, _attributes(raw), {_HREF: project_url(root.projects[item])})

    return _splice(source, rewrite)


def root_json(source: JsonSource) -> bytes:
    """The upstream's JSON root as it came: PEP 691 roots hold names, not URLs."""
    return source.body
