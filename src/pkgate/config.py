"""Configuration: a TOML file plus `PKGATE_<SECTION>_<KEY>` environment overrides -> one Config.

Every error names the file and the offending key, because a gateway that silently ignores a typo in
its config is worse than one that refuses to start.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec

from pkgate.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_PATTERN = re.compile(r"^[A-Za-z0-9._*?-]{1,200}$")


class Server(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    interface: Literal["rsgi", "asgi"] = "rsgi"
    access_log: bool = False


class Gateway(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str = ""
    secret: str = ""
    redirect_status: Literal[301, 302, 303, 307, 308] = 302
    cache_ttl: float = 60.0
    stale_ttl: float = 86400.0
    upstream_timeout: float = 10.0
    max_page_bytes: int = 64 * 1024 * 1024
    cache_bytes: int = 256 * 1024 * 1024
    default_upstream: str = "pypi"
    admin_token: str = ""
    #: `pkgate demo` only: take each request's time from `X-Pkgate-Demo-Time` (loopback peers only).
    demo_clock: bool = False


class Upstream(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    kind: Literal["auto", "json", "html"] = "auto"
    mode: Literal["redirect", "proxy"] = "redirect"
    timeout: float = 0.0  # 0: gateway.upstream_timeout
    authoritative: bool = False
    # Names of environment variables holding credentials; the values never enter the Config.
    username_env: str = ""
    password_env: str = ""
    token_env: str = ""


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Projects (names or `*`/`?` patterns) and the ordered upstreams that alone may serve them."""

    projects: list[str]
    upstreams: list[str]
    merge: bool = False


class Routing(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: list[Rule] = msgspec.field(default_factory=list)
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0


class Storage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    data_dir: str = "./pkgate-data"
    fsync: Literal["always", "batched", "off"] = "batched"
    fsync_interval: float = 0.2
    load_interval: float = 1.0
    segment_bytes: int = 64 * 1024 * 1024
    retention_days: int = 0


class Privacy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    forwarded_header: Literal["auto", "x-forwarded-for", "forwarded"] = "auto"
    asn_db: str = ""
    cloud_ranges: list[str] = msgspec.field(default_factory=list)
    window_days: int = 0


class Fleet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fleet mode: gateways forward their spool to NATS JetStream; `pkgate collect` fills the store."""

    nats_url: str = ""
    subject: str = "pkgate.events"
    stream: str = "PKGATE_EVENTS"


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

    name: str = ""  # events get origin "log:<name>"; "": the log format's name
    json_fields: dict[str, str] = msgspec.field(default_factory=dict)  # pkgate field -> log key


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    server: Server = msgspec.field(default_factory=Server)
    gateway: Gateway = msgspec.field(default_factory=Gateway)
    upstreams: dict[str, Upstream] = msgspec.field(
        default_factory=lambda: {"pypi": Upstream(url="https://pypi.org/simple/")}
    )
    storage: Storage = msgspec.field(default_factory=Storage)
    privacy: Privacy = msgspec.field(default_factory=Privacy)
    routing: Routing = msgspec.field(default_factory=Routing)
    fleet: Fleet = msgspec.field(default_factory=Fleet)
    ingest: Ingest = msgspec.field(default_factory=Ingest)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def paths(self) -> DataPaths:
        return DataPaths(Path(self.storage.data_dir))

    @property
    def gateway_id(self) -> str:
        return self.gateway.id or socket.gethostname()


ENV_PREFIX = "PKGATE_"
#: Variables with the prefix that are not config overrides (the file; the one `pkgate serve` publishes).
_NOT_OVERRIDES = frozenset({"PKGATE_CONFIG", "PKGATE_ACTIVE_CONFIG"})


def _env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Apply `PKGATE_SECTION_KEY=value`; values parse as TOML when they can (numbers, lists)."""
    sections = set(Config.__struct_fields__)
    for var, text in env.items():
        if not var.startswith(ENV_PREFIX) or var in _NOT_OVERRIDES:
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        section = next((s for s in sorted(sections, key=len, reverse=True) if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(f"environment {var}: no such config section (known: {sorted(sections)})")
        key = rest[len(section) + 1 :]
        try:
            value: Any = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        if section == "upstreams":
            # PKGATE_UPSTREAMS_PYPI_URL=..., PKGATE_UPSTREAMS_MY_INDEX_TOKEN_ENV=...
            fields = sorted(Upstream.__struct_fields__, key=len, reverse=True)
            field = next((f for f in fields if key.endswith("_" + f)), None)
            if field is None or len(key) <= len(field) + 1:
                raise ConfigError(
                    f"environment {var}: expected PKGATE_UPSTREAMS_<NAME>_<KEY>, KEY one of {sorted(fields)}"
                )
            name = key[: -len(field) - 1]
            raw.setdefault("upstreams", {}).setdefault(name, {})[field] = value
        else:
            raw.setdefault(section, {})[key] = value


def _check(cfg: Config, origin: str) -> None:
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{origin}: {key}: {why}")

    if not 0 <= cfg.server.port <= 65535:
        raise bad("server.port", f"must be 0..65535, got {cfg.server.port}")
    if cfg.server.workers < 1:
        raise bad("server.workers", "must be at least 1")
    for key, val in (
        ("gateway.cache_ttl", cfg.gateway.cache_ttl),
        ("gateway.stale_ttl", cfg.gateway.stale_ttl),
        ("storage.fsync_interval", cfg.storage.fsync_interval),
    ):
        if val < 0:
            raise bad(key, "must not be negative")
    if cfg.gateway.upstream_timeout <= 0:
        raise bad("gateway.upstream_timeout", "must be positive")
    if cfg.storage.load_interval <= 0:
        raise bad("storage.load_interval", "must be positive")
    if cfg.storage.segment_bytes < 4096:
        raise bad("storage.segment_bytes", "must be at least 4096")
    if not cfg.upstreams:
        raise bad("upstreams", "at least one upstream is required")
    for name, up in cfg.upstreams.items():
        _check_upstream(name, up, bad)
    if cfg.gateway.default_upstream and cfg.gateway.default_upstream not in cfg.upstreams:
        raise bad(
            "gateway.default_upstream",
            f"{cfg.gateway.default_upstream!r} is not one of upstreams {sorted(cfg.upstreams)}"
            ' (or "" to answer 404 for projects no rule claims)',
        )
    if cfg.gateway.admin_token and len(cfg.gateway.admin_token) < 16:
        raise bad("gateway.admin_token", "must be at least 16 characters (or empty to disable /admin)")
    _check_routing(cfg, bad)
    if cfg.gateway.demo_clock and cfg.server.host not in ("127.0.0.1", "::1", "localhost"):
        raise bad("gateway.demo_clock", "only for `pkgate demo`: needs server.host on loopback")
    if cfg.fleet.nats_url and not re.match(r"^(nats|tls)://[^\s/]+$", cfg.fleet.nats_url):
        raise bad(
            "fleet.nats_url", f"must be nats://host:port or tls://host:port, got {cfg.fleet.nats_url!r}"
        )
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", cfg.fleet.subject) or ".." in cfg.fleet.subject:
        raise bad("fleet.subject", f"must be a plain NATS subject, got {cfg.fleet.subject!r}")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cfg.fleet.stream):
        raise bad("fleet.stream", f"must be letters, digits, '-' or '_', got {cfg.fleet.stream!r}")
    if cfg.gateway.cache_bytes < 1 << 20:
        raise bad("gateway.cache_bytes", "must be at least 1 MiB (1048576)")
    if cfg.ingest.name and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", cfg.ingest.name):
        raise bad("ingest.name", f"must be letters, digits, '.', '-' or '_', got {cfg.ingest.name!r}")
    if cfg.storage.retention_days < 0:
        raise bad("storage.retention_days", "must not be negative (0 keeps events forever)")
    if cfg.privacy.window_days < 0:
        raise bad("privacy.window_days", "must not be negative")


def _check_upstream(name: str, up: Upstream, bad: Callable[[str, str], ConfigError]) -> None:
    key = f"upstreams.{name}"
    if not _NAME.match(name):
        raise bad(key, "name must be lowercase letters, digits, '-' or '_'")
    if not re.match(r"^https?://[^\s/?#]+(/[^\s]*)?$", up.url):
        raise bad(f"{key}.url", f"must be an http(s) URL, got {up.url!r}")
    if "@" in up.url.split("/", 3)[2]:
        # Page URLs become the base of every file link, and links are readable by clients.
        raise bad(f"{key}.url", "must not contain credentials; use username_env/password_env or token_env")
    if up.timeout < 0:
        raise bad(f"{key}.timeout", "must not be negative (0: gateway.upstream_timeout)")
    for field in ("username_env", "password_env", "token_env"):
        var = getattr(up, field)
        if var and not _ENV_VAR.match(var):
            raise bad(f"{key}.{field}", f"must name an environment variable, got {var!r}")
    if bool(up.username_env) != bool(up.password_env):
        raise bad(
            f"{key}.password_env" if up.username_env else f"{key}.username_env", "basic auth needs both"
        )
    if up.token_env and up.username_env:
        raise bad(f"{key}.token_env", "use either token_env or username_env/password_env, not both")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _check_routing(cfg: Config, bad: Callable[[str, str], ConfigError]) -> None:
    r = cfg.routing
    if r.breaker_threshold < 1:
        raise bad("routing.breaker_threshold", "must be at least 1")
    if r.breaker_cooldown <= 0:
        raise bad("routing.breaker_cooldown", "must be positive")
    claimed: dict[str, int] = {}
    for i, rule in enumerate(r.rules):
        key = f"routing.rules[{i}]"
        if not rule.projects:
            raise bad(f"{key}.projects", "must list at least one project name or pattern")
        for pattern in rule.projects:
            if not _PATTERN.match(pattern):
                raise bad(
                    f"{key}.projects",
                    f"{pattern!r} is not a project name or a pattern (letters, digits, '.', '_', '-', '*', '?')",
                )
            norm = _norm(pattern)
            if norm in claimed:
                raise bad(
                    f"{key}.projects", f"{pattern!r} is already claimed by routing.rules[{claimed[norm]}]"
                )
            claimed[norm] = i
        if not rule.upstreams:
            raise bad(f"{key}.upstreams", "must list at least one upstream")
        for name in rule.upstreams:
            if name not in cfg.upstreams:
                raise bad(f"{key}.upstreams", f"{name!r} is not one of upstreams {sorted(cfg.upstreams)}")
        if len(set(rule.upstreams)) != len(rule.upstreams):
            raise bad(f"{key}.upstreams", "lists an upstream twice")


def credentials(
    name: str, up: Upstream, env: Mapping[str, str] | None = None
) -> tuple[str, str] | str | None:
    """(username, password) for basic auth, a bearer token, or None, read from the environment.

    Resolved where the credentials are used (workers, preflight), never stored in the Config, so
    `pkgate config` and every error message only ever show the variable names.
    """
    env = os.environ if env is None else env

    def get(field: str) -> str:
        var = getattr(up, field)
        value = env.get(var)
        if value is None:
            raise ConfigError(f"upstreams.{name}.{field}: environment variable {var} is not set")
        return value

    if up.token_env:
        return get("token_env")
    if up.username_env:
        return get("username_env"), get("password_env")
    return None


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any), apply environment overrides, validate; raise ConfigError."""
    env = os.environ if env is None else env
    if path is None and env.get("PKGATE_CONFIG"):
        path = env["PKGATE_CONFIG"]
    if path is None:
        return parse("", "defaults", env)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse(text, str(path), env)


def parse(text: str, origin: str, env: Mapping[str, str] | None = None) -> Config:
    """Config from TOML text (errors name `origin`), environment overrides applied, validated."""
    env = os.environ if env is None else env
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None
    _env_overrides(raw, env)
    # Upstreams are converted one by one: msgspec's error path does not name dict keys.
    upstreams = raw.pop("upstreams", None)
    try:
        cfg = msgspec.convert(raw, Config, str_keys=True)
        if upstreams is not None:
            if not isinstance(upstreams, dict):
                raise ConfigError(f"{origin}: upstreams: must be a table of named upstreams")
            ups = {}
            for name, table in upstreams.items():
                try:
                    ups[name] = msgspec.convert(table, Upstream, str_keys=True)
                except msgspec.ValidationError as exc:
                    msg = _explain(str(exc)).replace("$", "")
                    raise ConfigError(f"{origin}: upstreams.{name}.{msg}") from None
            cfg = msgspec.structs.replace(cfg, upstreams=ups)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {_explain(str(exc))}") from None
    _check(cfg, origin)
    return cfg


def _explain(msg: str) -> str:
    """Turn msgspec's `... - at `$.server.port`` into `server.port: ...` so the key comes first."""
    for start, what in (
        ("Object missing required field", "required key missing"),
        ("Object contains unknown field", "unknown key"),
    ):
        m = re.match(start + r" `([^`]+)`(?: - at `\$\.?([^`]*)`)?", msg)
        if m:
            prefix = _dotted(m.group(2)) + "." if m.group(2) else ""
            return f"{prefix}{m.group(1)}: {what}"
    m = re.search(r" - at `\$\.?([^`]*)`$", msg)
    if m:
        return f"{_dotted(m.group(1))}: {msg[: m.start()]}"
    return msg


def _dotted(path: str) -> str:
    """`upstreams['a'].url` -> `upstreams.a.url`; list indices stay `rules[0]`."""
    return re.sub(r"\[['\"]([^'\]\"]+)['\"]\]", r".\1", path).lstrip(".")


def to_toml(cfg: Config) -> str:
    """The effective config as TOML text (for `pkgate config`), every key shown."""
    data = msgspec.to_builtins(cfg)
    lines: list[str] = []
    for section, values in data.items():
        if section == "upstreams":
            for name, up in values.items():
                lines.append(f"[upstreams.{name}]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in up.items())
                lines.append("")
            continue
        lines.append(f"[{section}]")
        tables = {k: v for k, v in values.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if k not in tables)
        lines.append("")
        for key, items in tables.items():
            for item in items:
                lines.append(f"[[{section}.{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
                lines.append("")
    return "\n".join(lines)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_value(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return msgspec.json.encode(str(v)).decode()
