"""The linehaul JSON blob that pip (>= 6), uv, Hatch and friends append after `name/version `.

Fast path: one `msgspec` decode straight into typed structs (no dicts, no per-field checks).
Clients send wrongly typed or truncated blobs too, so on failure a lenient path decodes to plain
objects and keeps whatever fields have the right type, after closing any brackets a proxy's
length limit cut off.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Final

import msgspec

from pkgate.enrich.ua.model import MAX_LEN, UserAgent

Str = str | None


class _Installer(msgspec.Struct, gc=False):
    name: Str = None
    version: Str = None
    subcommand: list[str] | None = None


class _Pair(msgspec.Struct, gc=False):
    """`implementation` and `libc`-like objects: a name and a version."""

    name: Str = None
    version: Str = None


class _Libc(msgspec.Struct, gc=False):
    lib: Str = None
    version: Str = None


class _Distro(msgspec.Struct, gc=False):
    name: Str = None
    version: Str = None
    id: Str = None
    libc: _Libc | None = None


class _System(msgspec.Struct, gc=False):
    name: Str = None
    release: Str = None


class _Blob(msgspec.Struct, gc=False):
    installer: _Installer | None = None
    python: Str = None
    implementation: _Pair | None = None
    distro: _Distro | None = None
    system: _System | None = None
    cpu: Str = None
    openssl_version: Str = None
    setuptools_version: Str = None
    rustc_version: Str = None
    ci: bool | None = None


_decoder: Final = msgspec.json.Decoder(_Blob)
_any_decoder: Final = msgspec.json.Decoder()

#: Installer names in blobs whose traffic is not a person installing (mirrors, scanners).
_CATEGORY: Final = {"bandersnatch": "mirror", "devpi": "mirror", "proxpi": "mirror"}


#: Characters `shlex.quote` leaves bare (plus the space we join with): the common case skips it.
_NEEDS_QUOTING: Final = re.compile(r"[^\w@%+=:,./ -]", re.ASCII)


def join_subcommand(parts: list[str]) -> str:
    """`shlex.join`, as linehaul's BigQuery rows store it, without its cost for plain words."""
    joined = " ".join(parts)
    if all(parts) and joined.count(" ") == len(parts) - 1 and not _NEEDS_QUOTING.search(joined):
        return joined[:MAX_LEN]
    return shlex.join(parts)[:MAX_LEN]


def parse_blob(blob: str, name: str, version: str) -> UserAgent | None:
    """Parse the JSON after the first space; `name`/`version` (the prefix) fill gaps.

    Returns None when nothing JSON-like can be recovered, so the caller falls back.
    """
    text = blob
    if text[-1] != "}":  # Hatch appends "HTTPX/x"; proxies truncate
        end = text.rfind("}")
        if end < 0:
            return _lenient(_repair(blob), name, version)
        text = text[: end + 1]
    try:
        b = _decoder.decode(text)
    except msgspec.ValidationError:  # raised on the first bad field, even before a syntax error
        data = _loads(text)
        return _lenient(_repair(blob) if data is None else data, name, version)
    except msgspec.DecodeError:
        return _lenient(_repair(blob), name, version)
    inst = b.installer
    sub: str | None = None
    if inst is not None:
        iname = inst.name or name
        iversion = inst.version or version
        if inst.subcommand is not None:
            sub = join_subcommand(inst.subcommand)
    else:
        iname, iversion = name, version
    iname = iname.lower()
    impl = b.implementation
    dist = b.distro
    system = b.system
    libc = dist.libc if dist is not None else None
    return UserAgent(
        _CATEGORY.get(iname, "installer"),
        iname or None,
        iversion or None,
        sub,
        impl.name if impl is not None else None,
        impl.version if impl is not None else None,
        b.python,
        system.name if system is not None else None,
        system.release if system is not None else None,
        dist.name if dist is not None else None,
        dist.version if dist is not None else None,
        dist.id if dist is not None else None,
        libc.lib if libc is not None else None,
        libc.version if libc is not None else None,
        b.cpu,
        b.openssl_version,
        b.setuptools_version,
        b.rustc_version,
        b.ci,
    )


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return _any_decoder.decode(text)
    except msgspec.DecodeError:
        return None


_REPAIR_TRIES: Final = 16


def _repair(text: str) -> Any:
    """Decode a blob cut short: keep every complete member, then close the open objects.

    Cuts happen only outside arrays, so a half-received list (a subcommand) is dropped whole
    rather than kept shortened: the repair may lose facts but never invents one.
    """
    closers: list[str] = []
    arrays = 0
    last: tuple[int, str] | None = None
    top: list[int] = []  # commas between top-level members
    in_str = escape = False
    for i, ch in enumerate(text):
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            closers.append("}")
        elif ch == "[":
            closers.append("]")
            arrays += 1
        elif ch in "}]":
            if not closers or closers.pop() != ch:
                break
            if ch == "]":
                arrays -= 1
            if not arrays:
                last = (i + 1, "".join(reversed(closers)))
        elif ch == "," and not arrays:
            last = (i, "".join(reversed(closers)))
            if len(closers) == 1:
                top.append(i)
    # The latest cut keeps most; when a bad token (NaN, a stray word) sits before it, whole
    # top-level members are dropped from the end instead. Bounded tries on hostile input.
    candidates = [text[:cut] + "}" for cut in top[: -_REPAIR_TRIES - 1 : -1]]
    if last is not None:
        candidates.insert(0, text[: last[0]] + last[1])
    for candidate in candidates:
        data = _loads(candidate)
        if data is not None:
            return data
    return None


def _s(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None  # "" kept, as on the fast path


def _d(obj: Any, key: str) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else None


def _lenient(data: Any, name: str, version: str) -> UserAgent | None:
    """Keep each field that has the right type; drop the rest instead of the whole blob."""
    if not isinstance(data, dict):
        return None
    inst = _d(data, "installer")
    iname = (_s(inst, "name") or name).lower()
    sub = inst.get("subcommand") if inst is not None else None
    subcommand = None
    if isinstance(sub, list) and all(isinstance(x, str) for x in sub):
        subcommand = join_subcommand(sub)
    impl, dist, system = _d(data, "implementation"), _d(data, "distro"), _d(data, "system")
    libc = _d(dist, "libc")
    ci = data.get("ci")
    return UserAgent(
        _CATEGORY.get(iname, "installer"),
        iname or None,
        _s(inst, "version") or version or None,
        subcommand,
        _s(impl, "name"),
        _s(impl, "version"),
        _s(data, "python"),
        _s(system, "name"),
        _s(system, "release"),
        _s(dist, "name"),
        _s(dist, "version"),
        _s(dist, "id"),
        _s(libc, "lib"),
        _s(libc, "version"),
        _s(data, "cpu"),
        _s(data, "openssl_version"),
        _s(data, "setuptools_version"),
        _s(data, "rustc_version"),
        ci if isinstance(ci, bool) else None,
    )
