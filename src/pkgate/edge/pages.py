"""The index page model: one for PEP 503 HTML and PEP 691 JSON, whichever format the upstream sent.

`pageparse.py` fills it from an upstream's page, the file links are rewritten by the caller, and the
page is rendered in whichever format the client negotiated. Every value parsed into it has passed
`pagecheck.py`: no control characters; upstream URLs absolute http(s), without fragment, header-safe.

The parsed page keeps the upstream's own document (`JsonSource`/`HtmlSource`): a client that
asks for the upstream's format gets that document back with only the file (and PEP 740 provenance)
URLs changed, every key, attribute and `<meta>` tag kept in order, known to pkgate or not
(`pkgate.edge.faithful`). The model fields serve conversions between the formats (`render.py`),
routing and merges.
"""

from __future__ import annotations

import msgspec

__all__ = ["FileLink", "HtmlSource", "JsonSource", "ProjectPage", "RootPage", "Tag"]


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
