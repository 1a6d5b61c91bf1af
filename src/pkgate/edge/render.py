"""Rendering index pages (PEP 503 HTML, PEP 691 JSON) from the model in `pkgate.edge.pages`.

The caller passes how each file link and project URL is rewritten; output is deterministic (same page
-> same bytes), because the gateway hashes it for the ETag.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any, Final

import msgspec

from pkgate.edge.names import parse_filename
from pkgate.edge.pages import FileLink, ProjectPage, RootPage

__all__ = ["render_project_html", "render_project_json", "render_root_html", "render_root_json"]

_SERIAL_RE: Final = re.compile(r"[0-9]{1,20}")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _first_hash(hashes: dict[str, str]) -> tuple[str, str] | None:
    """sha256 when present (pip and PEP 503 recommend it), else the first hash listed."""
    if "sha256" in hashes:
        return "sha256", hashes["sha256"]
    return next(iter(hashes.items()), None)


def _versions_and_api(page: ProjectPage) -> tuple[list[str] | None, str]:
    """The `versions` to publish (given, else derived from filenames) and the API version to claim."""
    versions = page.versions
    if versions is None:
        parsed = [parse_filename(f.filename) for f in page.files]
        if all(p is not None for p in parsed):
            versions = list(dict.fromkeys(p[1] for p in parsed if p is not None))
    complete = versions is not None and all(f.size is not None for f in page.files)
    return versions, "1.1" if complete else "1.0"


def _head(api_version: str, title: str) -> list[str]:
    return [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        '    <meta charset="utf-8">',
        f'    <meta name="pypi:repository-version" content="{api_version}">',
        f"    <title>{_esc(title)}</title>",
        "  </head>",
        "  <body>",
    ]


def _html_anchor(f: FileLink, href: str) -> str:
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
    return f"    <a {' '.join(attrs)}>{_esc(f.filename)}</a><br>"


def render_project_html(page: ProjectPage, link: Callable[[FileLink], str]) -> bytes:
    """PEP 503 page (with PEP 592/629/658/714 attributes); `link(f)` gives each file's href."""
    _versions, api_version = _versions_and_api(page)
    lines = _head(api_version, f"Links for {page.name}")
    lines.append(f"    <h1>Links for {_esc(page.name)}</h1>")
    lines.extend(_html_anchor(f, link(f)) for f in page.files)
    lines += ["  </body>", "</html>"]
    if page.last_serial is not None and _SERIAL_RE.fullmatch(page.last_serial):
        lines.append(f"<!--SERIAL {page.last_serial}-->")
    return ("\n".join(lines) + "\n").encode()


def _json_file_out(f: FileLink, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"filename": f.filename, "url": url, "hashes": f.hashes}
    if f.requires_python is not None:
        out["requires-python"] = f.requires_python
    if f.yanked is not False:
        out["yanked"] = f.yanked or True  # PEP 691: a reason string must not be empty
    if f.core_metadata:
        out["core-metadata"] = f.core_metadata
    if f.gpg_sig is not None:
        out["gpg-sig"] = f.gpg_sig
    if f.size is not None:
        out["size"] = f.size
    if f.upload_time is not None:
        out["upload-time"] = f.upload_time
    return out


def render_project_json(page: ProjectPage, link: Callable[[FileLink], str]) -> bytes:
    """PEP 691 (+700) JSON; deterministic bytes for a given page, since callers hash it for ETags."""
    versions, api_version = _versions_and_api(page)
    meta: dict[str, Any] = {"api-version": api_version}
    if page.last_serial is not None:
        serial = page.last_serial
        meta["_last-serial"] = (
            int(serial) if _SERIAL_RE.fullmatch(serial) and str(int(serial)) == serial else serial
        )
    doc: dict[str, Any] = {
        "meta": meta,
        "name": page.name,
        "files": [_json_file_out(f, link(f)) for f in page.files],
    }
    if versions is not None:
        doc["versions"] = versions
    return msgspec.json.encode(doc)


def render_root_html(root: RootPage, project_url: Callable[[str], str]) -> bytes:
    """PEP 503 root: one anchor per project."""
    lines = _head("1.0", "Simple index")
    lines.extend(f'    <a href="{_esc(project_url(n))}">{_esc(n)}</a><br>' for n in root.projects)
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def render_root_json(root: RootPage, project_url: Callable[[str], str]) -> bytes:
    """PEP 691 root. PEP 691 has no URL per project (clients build `/<normalised>/`), so
    `project_url` is unused here; it is accepted to keep both root renderers interchangeable."""
    del project_url
    return msgspec.json.encode(
        {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in root.projects]}
    )
