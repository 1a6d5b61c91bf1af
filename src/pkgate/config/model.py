"""The config's core sections and `Config` itself: one frozen struct, built once per load."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import msgspec

from pkgate.config.ecosystems import Conda, FileSource, Npm, Oci
from pkgate.config.public import Alerts, Public
from pkgate.config.types import (
    Days,
    EcosystemName,
    EnvVar,
    PositiveSeconds,
    ProjectPattern,
    Seconds,
    Secret,
    UpstreamName,
)


class Server(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535, description="a port, 0..65535")] = 8080
    workers: Annotated[int, msgspec.Meta(ge=1, description="at least 1")] = 1
    interface: Literal["rsgi", "asgi"] = "rsgi"
    access_log: bool = False
    #: How long a stop waits for a worker before killing it (its answered requests are spooled
    #: already); unbounded, one stuck worker would keep the whole gateway from stopping.
    stop_timeout: Annotated[int, msgspec.Meta(ge=1, le=1800, description="seconds, 1..1800")] = 10


class Gateway(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str = ""
    secret: Secret = ""
    #: Secrets of earlier rotations: links signed with them (lock files) still verify; new links
    #: are signed with `secret` only.
    retired_secrets: list[Secret] = msgspec.field(default_factory=list)
    redirect_status: Literal[301, 302, 303, 307, 308] = 302
    cache_ttl: Seconds = 60.0
    stale_ttl: Seconds = 86400.0
    upstream_timeout: PositiveSeconds = 10.0
    max_page_bytes: Annotated[int, msgspec.Meta(ge=1024, description="at least 1024 bytes")] = (
        64 * 1024 * 1024
    )
    cache_bytes: Annotated[int, msgspec.Meta(ge=1 << 20, description="at least 1 MiB (1048576)")] = (
        256 * 1024 * 1024
    )
    default_upstream: str = "pypi"
    admin_token: Secret = ""


class Upstream(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/?#]+(/\S*)?\Z", description="an http(s) URL")]
    kind: Literal["auto", "json", "html"] = "auto"
    mode: Literal["redirect", "proxy"] = "redirect"
    timeout: Annotated[
        float, msgspec.Meta(ge=0, description="not negative (0: gateway.upstream_timeout)")
    ] = 0.0
    authoritative: bool = False
    # Names of environment variables holding credentials; the values never enter the Config.
    username_env: EnvVar = ""
    password_env: EnvVar = ""
    token_env: EnvVar = ""
    #: Which ecosystem's module uses this upstream (a registry speaks one protocol).
    ecosystem: EcosystemName = "python"


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Projects (names or `*`/`?` patterns) and the ordered upstreams that alone may serve them."""

    projects: Annotated[
        list[ProjectPattern],
        msgspec.Meta(min_length=1, description="a list of at least one project name or pattern"),
    ]
    upstreams: Annotated[list[str], msgspec.Meta(min_length=1, description="a list of at least one upstream")]
    merge: bool = False
    #: The ecosystem whose names `projects` are (npm `@acme/*`, an image repository `acme/*`, ...);
    #: every upstream it lists must be of that ecosystem.
    ecosystem: EcosystemName = "python"


class Routing(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: list[Rule] = msgspec.field(default_factory=list)
    breaker_threshold: Annotated[int, msgspec.Meta(ge=1, description="at least 1")] = 5
    breaker_cooldown: PositiveSeconds = 30.0


class Storage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    data_dir: Annotated[str, msgspec.Meta(min_length=1, description="a directory")] = "./pkgate-data"
    fsync: Literal["always", "batched", "off"] = "batched"
    fsync_interval: Seconds = 0.2
    load_interval: PositiveSeconds = 1.0
    segment_bytes: Annotated[int, msgspec.Meta(ge=4096, description="at least 4096 bytes")] = 64 * 1024 * 1024
    retention_days: Days = 0
    #: Read the Requires-Dist of downloaded versions from the upstreams (off the request path).
    dependency_metadata: bool = True
    #: Loaded spool segments are kept this long (and within the byte budget) so the store can be
    #: rebuilt from them; 0 deletes them once loaded.
    spool_retention_days: Annotated[
        float, msgspec.Meta(ge=0, description="days, not negative (0 deletes segments once loaded)")
    ] = 30.0
    spool_retention_bytes: Annotated[
        int, msgspec.Meta(ge=0, description="bytes, not negative (0 deletes segments once loaded)")
    ] = 10 * 1024**3


class Privacy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    forwarded_header: Literal["auto", "x-forwarded-for", "forwarded"] = "auto"
    asn_db: str = ""
    cloud_ranges: list[str] = msgspec.field(default_factory=list)
    builtin_asn: bool = True


class Fleet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fleet mode: gateways forward their spool to NATS JetStream; `pkgate collect` fills the store."""

    nats_url: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^((nats|tls)://[^\s/]+)?\Z", description="nats://host:port or tls://host:port"
        ),
    ] = ""
    subject: Annotated[
        str, msgspec.Meta(pattern=r"^(?!.*\.\.)[A-Za-z0-9_.-]{1,128}\Z", description="a plain NATS subject")
    ] = "pkgate.events"
    stream: Annotated[
        str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}\Z", description="letters, digits, '-' or '_'")
    ] = "PKGATE_EVENTS"


class DataPaths(NamedTuple):
    """Where everything under `storage.data_dir` lives: one place, so the commands that only read the
    store (reports, export, erase, the dashboard) need not import the gateway to find it."""

    root: Path

    @property
    def store(self) -> Path:
        """The DuckDB store."""
        return self.root / "pkgate.duckdb"

    @property
    def spool(self) -> Path:
        """The event spool's segments."""
        return self.root / "spool"

    @property
    def keys(self) -> Path:
        """The day's source-id keys."""
        return self.root / "keys"

    @property
    def secret(self) -> Path:
        """The generated link-signing key (when `gateway.secret` is not set)."""
        return self.root / "secret"

    @property
    def lock(self) -> Path:
        """The lock a running gateway (or collector, or loader) holds on the data_dir."""
        return self.root / "lock"

    @property
    def metrics(self) -> Path:
        """Each worker's dumped counters."""
        return self.root / "metrics"

    @property
    def active_config(self) -> Path:
        """The config `pkgate serve` publishes for its workers."""
        return self.root / "run" / "pkgate.toml"


class Ingest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`pkgate ingest` / `tail`: the origin name of ingested events and the generic JSON mapping."""

    #: Events get origin "log:<name>"; "": the log format's name.
    name: Annotated[
        str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{0,64}$", description="letters, digits, '.', '-' or '_'")
    ] = ""
    json_fields: dict[str, str] = msgspec.field(default_factory=dict)  # pkgate field -> log key


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    server: Server = msgspec.field(default_factory=Server)
    gateway: Gateway = msgspec.field(default_factory=Gateway)
    upstreams: Annotated[
        dict[UpstreamName, Upstream],
        msgspec.Meta(min_length=1, description="a table of at least one upstream"),
    ] = msgspec.field(default_factory=lambda: {"pypi": Upstream(url="https://pypi.org/simple/")})
    storage: Storage = msgspec.field(default_factory=Storage)
    privacy: Privacy = msgspec.field(default_factory=Privacy)
    routing: Routing = msgspec.field(default_factory=Routing)
    fleet: Fleet = msgspec.field(default_factory=Fleet)
    ingest: Ingest = msgspec.field(default_factory=Ingest)
    public: Public = msgspec.field(default_factory=Public)
    alerts: Alerts = msgspec.field(default_factory=Alerts)
    npm: Npm = msgspec.field(default_factory=Npm)
    oci: Oci = msgspec.field(default_factory=Oci)
    conda: Conda = msgspec.field(default_factory=Conda)
    files: list[FileSource] = msgspec.field(default_factory=list)

    def default_upstream(self, ecosystem: str) -> str:
        """The upstream of `ecosystem`'s names that no rule claims ("" when there is none)."""
        if ecosystem == "python":
            return self.gateway.default_upstream
        section: Npm | Oci | Conda = getattr(self, ecosystem)
        return section.default_upstream

    def serves(self, ecosystem: str) -> bool:
        """Whether the config gives `ecosystem` anything to serve (a default upstream or a rule)."""
        return bool(self.default_upstream(ecosystem)) or any(
            r.ecosystem == ecosystem for r in self.routing.rules
        )

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def paths(self) -> DataPaths:
        return DataPaths(Path(self.storage.data_dir))

    @property
    def gateway_id(self) -> str:
        return self.gateway.id or socket.gethostname()
