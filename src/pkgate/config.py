"""Configuration: a TOML file plus `PKGATE_<SECTION>_<KEY>` environment overrides -> one Config.

Every error names the file (or the environment variable) and the offending key, because a gateway
that silently ignores a typo in its config is worse than one that refuses to start. Ranges and
formats are declared on the fields (`Annotated[..., msgspec.Meta(...)]`); `_convert` walks the
types, so every error knows its key without parsing msgspec's messages. Only rules that relate two
keys are written out by hand (`_check`).
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, get_args, get_origin, get_type_hints

import msgspec
import tomli_w

from pkgate.errors import ConfigError

# A `description` is what an error says the value must be ("must be <description>, got ...").
Seconds = Annotated[float, msgspec.Meta(ge=0, description="seconds, not negative")]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, description="a positive number of seconds")]
Days = Annotated[int, msgspec.Meta(ge=0, description="a number of days, not negative")]
EnvVar = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([A-Za-z_][A-Za-z0-9_]{0,127})?\Z", description="the name of an environment variable"
    ),
]
Secret = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(|[\s\S]{16,})\Z",
        description="at least 16 characters (or empty)",
        extra={"secret": True},  # errors never echo the value
    ),
]
UpstreamName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}\Z",
        description="an upstream name: lowercase letters, digits, '-' or '_'",
    ),
]
ProjectPattern = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9._*?-]{1,200}\Z",
        description="a project name or a pattern (letters, digits, '.', '_', '-', '*', '?')",
    ),
]


class Server(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535, description="a port, 0..65535")] = 8080
    workers: Annotated[int, msgspec.Meta(ge=1, description="at least 1")] = 1
    interface: Literal["rsgi", "asgi"] = "rsgi"
    access_log: bool = False


class Gateway(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str = ""
    secret: Secret = ""
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


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Projects (names or `*`/`?` patterns) and the ordered upstreams that alone may serve them."""

    projects: Annotated[
        list[ProjectPattern],
        msgspec.Meta(min_length=1, description="a list of at least one project name or pattern"),
    ]
    upstreams: Annotated[list[str], msgspec.Meta(min_length=1, description="a list of at least one upstream")]
    merge: bool = False


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


def _env_value(text: str) -> Any:
    """An override's value: TOML when it is one value (`9000`, `["a"]`, `""`), else the text itself."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    return parsed["v"] if len(parsed) == 1 else text


def _env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Apply `PKGATE_SECTION_KEY=value` to `raw`; return which key each variable set (for errors)."""
    sections = set(Config.__struct_fields__)
    by_key: dict[str, str] = {}
    for var, text in sorted(env.items()):
        if not var.startswith(ENV_PREFIX) or var in _NOT_OVERRIDES:
            continue
        origin = f"environment {var}"
        rest = var[len(ENV_PREFIX) :].lower()
        section = next((s for s in sorted(sections, key=len, reverse=True) if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(f"no such config section (known: {sorted(sections)})", origin=origin)
        key = rest[len(section) + 1 :]
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError("must be a table", key=section)
        if section == "upstreams":
            # PKGATE_UPSTREAMS_PYPI_URL=..., PKGATE_UPSTREAMS_MY_INDEX_TOKEN_ENV=...
            fields = sorted(Upstream.__struct_fields__, key=len, reverse=True)
            field = next((f for f in fields if key.endswith("_" + f)), None)
            if field is None or len(key) <= len(field) + 1:
                raise ConfigError(
                    f"expected PKGATE_UPSTREAMS_<NAME>_<KEY>, KEY one of {sorted(fields)}", origin=origin
                )
            name = key[: -len(field) - 1]
            up = table.setdefault(name, {})
            if not isinstance(up, dict):
                raise ConfigError("must be a table", key=f"upstreams.{name}")
            up[field] = _env_value(text)
            by_key[f"upstreams.{name}.{field}"] = var
        else:
            table[key] = _env_value(text)
            by_key[f"{section}.{key}"] = var
    return by_key


def _split(tp: Any) -> tuple[Any, list[msgspec.Meta]]:
    """`Annotated[T, Meta(...)]` -> (T, [Meta]); any other type -> (it, [])."""
    if get_origin(tp) is Annotated:
        base, *extras = get_args(tp)
        return base, [m for m in extras if isinstance(m, msgspec.Meta)]
    return tp, []


def _kind(value: object) -> str:
    kinds = {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer"}
    return kinds.get(type(value), "a float" if isinstance(value, float) else type(value).__name__)


def _constrained(value: Any, tp: Any, key: str) -> Any:
    """`value` converted to `tp`: a wrong type says what msgspec expected; a value out of its range
    or format says what it must be (the field's Meta description) and what it got."""
    base, metas = _split(tp)
    try:
        converted = msgspec.convert(value, base)
    except msgspec.ValidationError as exc:
        if get_origin(base) is Literal:
            choices = ", ".join(repr(c) for c in get_args(base))
            raise ConfigError(f"must be one of {choices}, got {_shown(value)}", key=key) from None
        raise ConfigError(str(exc), key=key) from None  # `Expected `int`, got `str``
    if not metas:
        return converted
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        why = next((f"must be {m.description}" for m in metas if m.description), str(exc))
        if any((m.extra or {}).get("secret") for m in metas):
            raise ConfigError(why, key=key) from None
        raise ConfigError(f"{why}, got {_shown(value)}", key=key) from None


def _shown(value: object) -> str:
    """The offending value, short: scalars and empty containers as written, others by kind."""
    return repr(value) if isinstance(value, (str, int, float)) or value in ([], {}) else _kind(value)


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Walk `tp` (structs, lists, dicts, leaves) so each error carries its dotted key."""
    base, _ = _split(tp)
    if isinstance(base, type) and issubclass(base, msgspec.Struct):
        if not isinstance(value, dict):
            raise ConfigError(f"must be a table, got {_kind(value)}", key=key)
        hints = get_type_hints(base, include_extras=True)
        fields = {f.name: f for f in msgspec.structs.fields(base)}
        for name in value:
            if name not in fields:
                raise ConfigError("unknown key", key=_join(key, name))
        kwargs = {}
        for name, info in fields.items():
            if name in value:
                kwargs[name] = _convert(value[name], hints[name], _join(key, name))
            elif info.required:
                raise ConfigError("required key missing", key=_join(key, name))
        return base(**kwargs)
    origin = get_origin(base)
    if origin is list:
        (item,) = get_args(base)
        if not isinstance(value, list):
            raise ConfigError(f"must be an array, got {_kind(value)}", key=key)
        _sized(value, list[Any], tp, key)
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        ktype, vtype = get_args(base)
        if not isinstance(value, dict):
            raise ConfigError(f"must be a table, got {_kind(value)}", key=key)
        _sized(value, dict[str, Any], tp, key)
        out = {}
        for name, v in value.items():
            _constrained(name, ktype, _join(key, name))
            out[name] = _convert(v, vtype, _join(key, name))
        return out
    return _constrained(value, tp, key)


def _sized(value: Any, shape: Any, tp: Any, key: str) -> None:
    """The container's own constraints (at least one item), before its items are walked."""
    metas = _split(tp)[1]
    if metas:
        _constrained(value, Annotated[(shape, *metas)], key)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _check(cfg: Config) -> None:
    """The rules that relate two keys, or that a pattern would state less clearly."""
    gw = cfg.gateway
    for name, up in cfg.upstreams.items():
        key = f"upstreams.{name}"
        if "@" in up.url.split("/", 3)[2]:
            # Page URLs become the base of every file link, and links are readable by clients.
            raise ConfigError(
                "must not contain credentials; use username_env/password_env or token_env", key=f"{key}.url"
            )
        if bool(up.username_env) != bool(up.password_env):
            missing = "password_env" if up.username_env else "username_env"
            raise ConfigError("basic auth needs both", key=f"{key}.{missing}")
        if up.token_env and up.username_env:
            raise ConfigError(
                "use either token_env or username_env/password_env, not both", key=f"{key}.token_env"
            )
    if gw.default_upstream and gw.default_upstream not in cfg.upstreams:
        raise ConfigError(
            f"{gw.default_upstream!r} is not one of upstreams {sorted(cfg.upstreams)}"
            ' (or "" to answer 404 for projects no rule claims)',
            key="gateway.default_upstream",
        )
    claimed: dict[str, int] = {}
    for i, rule in enumerate(cfg.routing.rules):
        key = f"routing.rules[{i}]"
        for pattern in rule.projects:
            norm = re.sub(r"[-_.]+", "-", pattern).lower()
            if norm in claimed:
                raise ConfigError(
                    f"{pattern!r} is already claimed by routing.rules[{claimed[norm]}]", key=f"{key}.projects"
                )
            claimed[norm] = i
        for name in rule.upstreams:
            if name not in cfg.upstreams:
                raise ConfigError(
                    f"{name!r} is not one of upstreams {sorted(cfg.upstreams)}", key=f"{key}.upstreams"
                )
        if len(set(rule.upstreams)) != len(rule.upstreams):
            raise ConfigError("lists an upstream twice", key=f"{key}.upstreams")


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
            raise ConfigError(f"environment variable {var} is not set", key=f"upstreams.{name}.{field}")
        return value

    if up.token_env:
        return get("token_env")
    if up.username_env:
        return get("username_env"), get("password_env")
    return None


def source(path: str | Path | None, env: Mapping[str, str] | None = None) -> str | None:
    """The config file a command reads: `--config`, else `$PKGATE_CONFIG`, else None (defaults)."""
    env = os.environ if env is None else env
    if path is None and env.get("PKGATE_CONFIG"):
        path = env["PKGATE_CONFIG"]
    return None if path is None else str(path)


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any), apply environment overrides, validate; raise ConfigError."""
    env = os.environ if env is None else env
    path = source(path, env)
    if path is None:
        return parse("", "defaults", env)
    return parse(read_text(path), path, env)


def read_text(path: str | Path) -> str:
    """A config file's text; ConfigError naming the file when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such config file", origin=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", origin=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", origin=str(path)) from None


_TOML_AT = re.compile(r"(?P<why>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)", re.S)


def parse(text: str, origin: str, env: Mapping[str, str] | None = None) -> Config:
    """Config from TOML text (errors name `origin`), environment overrides applied, validated."""
    env = os.environ if env is None else env
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's exception has no line attribute: the position is only in its message.
        m = _TOML_AT.fullmatch(str(exc))
        if m is None:
            raise ConfigError(f"invalid TOML: {exc}", origin=origin) from None
        why = f"invalid TOML: {m['why']} (column {m['col']})"
        raise ConfigError(why, origin=origin, line=int(m["line"])) from None
    set_by_env: dict[str, str] = {}
    try:
        set_by_env = _env_overrides(raw, env)
        cfg: Config = _convert(raw, Config, "")
        _check(cfg)
    except ConfigError as exc:
        raise exc.located(_env_origin(exc.key, set_by_env) or origin) from None
    return cfg


def _env_origin(key: str, set_by_env: Mapping[str, str]) -> str:
    """`environment PKGATE_...` when the key in error (or a table holding it) came from a variable."""
    for k, var in set_by_env.items():
        if key == k or key.startswith((k + ".", k + "[")):
            return f"environment {var}"
    for k, var in set_by_env.items():  # a table the variable created (`upstreams.<bad name>`)
        if key and k.startswith(key + "."):
            return f"environment {var}"
    return ""


def to_toml(cfg: Config) -> str:
    """The effective config as TOML text (for `pkgate config`), every key shown."""
    return tomli_w.dumps(msgspec.to_builtins(cfg))
