"""PEP 691 JSON index pages -> the page model; the body is kept as received for faithful output.

The whole document must decode (faithful output re-decodes it), and the keys pkgate reads must have
their types; other keys are kept in the document only. Spec choices:
- PEP 740 `provenance` is read as the URL of the provenance file (the living spec; an early draft
  put a digest there): a string that is not a URL makes the page bad, like a bad `url`. A
  non-string value is kept in the document but not in the model.
- PEP 792 project status: `project-status: {status, reason}` beside `meta`.
- PEP 714: `core-metadata` wins over `dist-info-metadata`, then Warehouse's mis-named
  `data-dist-info-metadata`.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from pkgate.edge.pagecheck import check_api_version, clean, clean_hashes, resolve_url
from pkgate.edge.pages import FileLink, JsonSource, ProjectPage, RootPage
from pkgate.errors import PageError

__all__ = ["json_project", "json_root"]


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
        return (clean_hashes(value.items()) or True) if value else False
    return None


def _json_file(raw: _JFile, base: str, where: str) -> FileLink:
    if not raw.filename:
        raise PageError(f"{where}: a file has an empty filename")
    where = f"{where}: file {raw.filename[:80]!r}"
    clean(raw.filename, "filename", where)
    url, _fragment = resolve_url(raw.url, base, where)
    requires = clean(raw.requires_python, "requires-python", where) if raw.requires_python else None
    yanked: bool | str = raw.yanked or False  # PEP 691 truthiness (and pip): "" is not yanked
    if isinstance(yanked, str):
        clean(yanked, "yanked reason", where)
    core = _json_metadata(raw.core_metadata)
    for fallback in (raw.dist_info_metadata, raw.data_dist_info_metadata):
        core = _json_metadata(fallback) if core is None else core
    if raw.size is not None and raw.size < 0:
        raise PageError(f"{where}: negative size {raw.size}")
    upload = clean(raw.upload_time, "upload-time", where) if raw.upload_time is not None else None
    hashes = clean_hashes(raw.hashes.items())
    provenance = None
    if isinstance(raw.provenance, str) and raw.provenance:
        provenance = resolve_url(raw.provenance, base, f"{where}: provenance")[0]
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
    return None if value is None else clean(value, what, where)


def _serial(value: int | str | None, where: str) -> str | None:
    return None if value is None else clean(str(value), "_last-serial", where)


def json_project(body: bytes, page_url: str, name: str, where: str) -> ProjectPage:
    """The project page (see `pageparse.parse_project`); a `name` in the page wins over `name`."""
    raw: _JProject = _decode_json(_PROJECT_DECODER, body, where)
    check_api_version(raw.meta.api_version, where)
    files = [_json_file(f, page_url, where) for f in raw.files]
    versions = [clean(v, "version", where) for v in raw.versions] if raw.versions is not None else None
    page_name = clean(raw.name, "name", where) if raw.name else name
    st = raw.project_status or _JStatus()
    return ProjectPage(
        page_name,
        files,
        versions,
        _serial(raw.meta.last_serial, where),
        clean(raw.meta.api_version, "api-version", where),
        _optional(st.status, "project status", where),
        _optional(st.reason, "project status reason", where),
        JsonSource(body),
    )


def json_root(body: bytes, where: str) -> RootPage:
    """The project list (see `pageparse.parse_root`)."""
    raw: _JRoot = _decode_json(_ROOT_DECODER, body, where)
    check_api_version(raw.meta.api_version, where)
    names = [clean(p.name, "project name", where) for p in raw.projects if p.name]
    # A nameless entry would be skipped here but not in the document: render it ourselves then.
    source = JsonSource(body) if len(names) == len(raw.projects) else None
    return RootPage(names, clean(raw.meta.api_version, "api-version", where), source)
