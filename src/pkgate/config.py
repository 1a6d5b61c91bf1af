"""Configuration: a TOML file plus `PKGATE_<SECTION>_<KEY>` environment overrides -> one Config.

Every error names the file and the offending key, because a gateway that silently ignores a typo in
its config is worse than one that refuses to start.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from pkgate.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


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
    default_upstream: str = "pypi"


class Upstream(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str


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


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    server: Server = msgspec.field(default_factory=Server)
    gateway: Gateway = msgspec.field(default_factory=Gateway)
    upstreams: dict[str, Upstream] = msgspec.field(
        default_factory=lambda: {"pypi": Upstream(url="https://pypi.org/simple/")}
    )
    storage: Storage = msgspec.field(default_factory=Storage)
    privacy: Privacy = msgspec.field(default_factory=Privacy)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def gateway_id(self) -> str:
        return self.gateway.id or socket.gethostname()


ENV_PREFIX = "PKGATE_"


def _env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Apply `PKGATE_SECTION_KEY=value`; values parse as TOML when they can (numbers, lists)."""
    sections = set(Config.__struct_fields__)
    for var, text in env.items():
        if not var.startswith(ENV_PREFIX) or var == "PKGATE_CONFIG":
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
            # PKGATE_UPSTREAMS_PYPI_URL=...
            name, _, field = key.rpartition("_")
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
        if not _NAME.match(name):
            raise bad(f"upstreams.{name}", "name must be lowercase letters, digits, '-' or '_'")
        if not re.match(r"^https?://[^\s/?#]+(/[^\s]*)?$", up.url):
            raise bad(f"upstreams.{name}.url", f"must be an http(s) URL, got {up.url!r}")
    if cfg.gateway.default_upstream not in cfg.upstreams:
        raise bad(
            "gateway.default_upstream",
            f"{cfg.gateway.default_upstream!r} is not one of upstreams {sorted(cfg.upstreams)}",
        )
    if cfg.storage.retention_days < 0:
        raise bad("storage.retention_days", "must not be negative (0 keeps events forever)")
    if cfg.privacy.window_days < 0:
        raise bad("privacy.window_days", "must not be negative")


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any), apply environment overrides, validate; raise ConfigError."""
    env = os.environ if env is None else env
    if path is None and env.get("PKGATE_CONFIG"):
        path = env["PKGATE_CONFIG"]
    raw: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        origin = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{origin}: no such config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{origin}: cannot read: {exc}") from None
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
    """`upstreams['a'].url` -> `upstreams.a.url`."""
    return re.sub(r"\[['\"]?([^'\]\"]+)['\"]?\]", r".\1", path).lstrip(".")


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
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return msgspec.json.encode(str(v)).decode()
