"""The interface every ecosystem module (Python, npm, files, OCI, conda) implements.

The gateway (`gateway.py`) owns what all ecosystems share: dispatch by path, the memo of verified
file links, recording, metrics, the operational endpoints and the admin reload. An ecosystem owns
what differs: which paths it serves, how a request maps to a common request kind, how project and
version are named, how its documents are fetched, rewritten and signed, and which upstreams and
routing rules apply. See docs/ecosystems.md for how to add one; `pkgate.edge.python` is the example.

Lifecycle: a registered `Module` builds an `Ecosystem` from a `Build` (the config and the worker's
shared parts) at start and on every reload, getting its previous instance so that caches and
breakers of unchanged upstreams survive. An `Ecosystem` is never changed after it is built; the
gateway swaps the whole set in with one assignment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

import httpx

from pkgate.config import Config
from pkgate.edge.links import LinkSigner
from pkgate.edge.metrics import Metrics
from pkgate.edge.recorder import Headers

if TYPE_CHECKING:
    from pkgate.edge.failover import UpstreamHandle
    from pkgate.edge.proxy import Stream

__all__ = [
    "FILE",
    "INDEX_MISS",
    "INDEX_PROJECT",
    "INDEX_ROOT",
    "KINDS",
    "METADATA",
    "OTHER",
    "Answer",
    "Build",
    "Ecosystem",
    "Facts",
    "FileTarget",
    "Module",
    "Paths",
    "Request",
    "Response",
]

#: The common request kinds (Event.kind). Reports count `file` as a download and the index kinds
#: as resolution traffic, whatever the ecosystem; a new kind needs the reports to learn it first.
INDEX_ROOT: Final = "index-root"  # the list of every project (PyPI's /simple/)
INDEX_PROJECT: Final = "index-project"  # one project's document (simple page, packument, repodata)
FILE: Final = "file"  # a distribution file (wheel, tarball, .conda, blob): a download
METADATA: Final = "metadata"  # a file's metadata only (PEP 658 .metadata, PEP 740 .provenance)
OTHER: Final = "other"  # anything else (404s, admin)
#: A project the gateway does not serve (no routing rule, no default upstream): 404 at once, no
#: upstream asked. An `--extra-index-url` gateway sees every name of its users' installs this way;
#: reports of downloads and attempts leave these out (`pkgate.store.aggregates.COUNTED`).
INDEX_MISS: Final = "index-miss"
KINDS: Final = (INDEX_ROOT, INDEX_PROJECT, FILE, METADATA, OTHER, INDEX_MISS)


class Response(NamedTuple):
    """An answer as both server interfaces send it; `body` is bytes or a proxied stream."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | Stream


class Request(NamedTuple):
    method: str
    path: str  # raw (still percent-encoded), without the query
    query: str
    headers: Headers


class Facts:
    """What a request tells the event beyond method/path/status: filled in by the ecosystem.

    A `FileTarget`'s facts are shared by every request of that link: read, never changed.
    """

    __slots__ = (
        "cache",
        "command",
        "conditional",
        "digest",
        "failover",
        "filename",
        "platform",
        "project",
        "upstream",
        "version",
    )

    def __init__(
        self,
        project: str | None = None,
        version: str | None = None,
        filename: str | None = None,
        upstream: str | None = None,
        cache: str | None = None,
        failover: bool = False,
        conditional: bool = False,
        platform: str | None = None,
        digest: str | None = None,
        command: str | None = None,
    ) -> None:
        self.project = project
        self.version = version
        self.filename = filename
        self.upstream = upstream
        self.cache = cache  # "hit", "miss", "revalidated", "stale" for documents
        self.failover = failover
        self.conditional = conditional
        self.platform = platform  # conda subdir, OCI platform
        self.digest = digest  # OCI content digest
        self.command = command  # a client's subcommand header (npm-command), at most 32 characters


@dataclass(frozen=True, slots=True)
class FileTarget:
    """A verified file link: where it leads and what its events record.

    The gateway memoises it by path (one dict lookup per later request, until a reload), then
    answers with a redirect to `target`, or streams it through `proxy` when that upstream is
    proxied (its credentials must not reach the client).
    """

    kind: str
    target: str  # the exact URL an upstream listed (or one derived from it, like PEP 658's)
    facts: Facts
    proxy: UpstreamHandle[Any] | None = None
    status: int = 0  # the redirect's status; 0: `gateway.redirect_status` (OCI blobs use 307)
    #: What events record as the path (None: the request path): the link without its signature,
    #: which says nothing a report needs and would be most of every event's bytes.
    path: str | None = None


class Answer(NamedTuple):
    """An ecosystem's answer: a response, or a verified file link for the gateway to answer."""

    response: Response | FileTarget
    kind: str


class Paths(NamedTuple):
    """The request paths an ecosystem serves: exact paths, and path prefixes.

    Prefixes must not overlap another ecosystem's (checked when the set is built); the longest
    matching prefix wins. `/healthz`, `/metrics` and `/admin/` belong to the gateway.
    """

    exact: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Build:
    """What a module gets to build its ecosystem: the config and the worker's shared parts."""

    cfg: Config
    client: httpx.AsyncClient  # the worker's pooled upstream HTTP client
    signer: LinkSigner
    metrics: Metrics
    generation: int = 0


class Ecosystem(Protocol):
    """One ecosystem as built for one config."""

    @property
    def name(self) -> str:
        """Event.ecosystem of everything it answers ("python", "npm", ...)."""
        ...

    @property
    def paths(self) -> Paths: ...

    @property
    def upstreams(self) -> Mapping[str, UpstreamHandle[Any]]:
        """Its upstreams by config name (metrics show their breakers)."""
        ...

    def handle(self, request: Request, facts: Facts) -> Awaitable[Answer]:
        """Answer a request under `paths`; never raises for bad input (answer 4xx instead)."""
        ...


class Module(Protocol):
    """A registered ecosystem (see `pkgate.edge.registry`)."""

    @property
    def name(self) -> str: ...

    def build(self, build: Build, previous: Ecosystem | None) -> Ecosystem:
        """The ecosystem for `build.cfg`; raises ConfigError (e.g. a credential is not set).

        `previous` is this module's instance under the old config (None at start): reuse its caches
        and breakers for upstreams that did not change.
        """
        ...
