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
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
import tomli_w

from pkgate.config.checks import _check, credentials, normalize_name
from pkgate.config.ecosystems import Conda, FileSource, Npm, Oci
from pkgate.config.model import (
    Config,
    DataPaths,
    Fleet,
    Gateway,
    Ingest,
    Privacy,
    Routing,
    Rule,
    Server,
    Storage,
    Upstream,
)
from pkgate.config.public import AlertRule, Alerts, Public, Webhook
from pkgate.config.types import ECOSYSTEMS, EcosystemName
from pkgate.errors import ConfigError

__all__ = [
    "ECOSYSTEMS",
    "ENV_PREFIX",
    "AlertRule",
    "Alerts",
    "Conda",
    "Config",
    "DataPaths",
    "EcosystemName",
    "FileSource",
    "Fleet",
    "Gateway",
    "Ingest",
    "Npm",
    "Oci",
    "Privacy",
    "Public",
    "Routing",
    "Rule",
    "Server",
    "Storage",
    "Upstream",
    "Webhook",
    "credentials",
    "load",
    "normalize_name",
    "parse",
    "read_text",
    "source",
    "to_toml",
]

ENV_PREFIX = "PKGATE_"
#: Variables with the prefix that are not config overrides (the file; the one `pkgate serve`
#: publishes; where the dashboard finds Chart.js, web.assets).
_NOT_OVERRIDES = frozenset({"PKGATE_CONFIG", "PKGATE_ACTIVE_CONFIG", "PKGATE_NODE_MODULES"})


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
