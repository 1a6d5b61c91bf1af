"""Source ids: keyed hashes of the client address that link requests within one UTC day only.

The raw address never leaves memory. Each UTC day has its own random 32-byte key, shared by every
worker process through `<keys_dir>/<YYYY-MM-DD>.key` (first writer wins, atomically), and deleted once
the day is older than yesterday. Without the key a hash cannot be reversed by trying all 2**32 IPv4
addresses, and hashes of different days cannot be linked because their keys are independent.

Key lifetime: the key of day D is only ever used for timestamps inside day D. Its file is created on
the first request of day D and deleted on the first rotation on or after day D+2 (yesterday's key is
kept so that workers whose clocks are a little behind, and requests straddling midnight, still agree).
Keys of days more than one day ahead (a clock that was wrong) are deleted too.

Period marks (`SourceHasher.marks`) feed the weekly and monthly unique counts: one more random key
per ISO week (`week-<Monday>.key`) and per calendar month (`month-<first day>.key`), deleted like a
day key once the period ended before yesterday. Under it an address becomes one HyperLogLog register
update, `(register << 6) | rank` (`HLL_P` bits of register, rank 1..53), never an id: the store
folds them into per-period sketches (`pkgate.store.sketches`) and keeps nothing per event, and once
the key is gone no address can be tested against a sketch.

Optional window ids (`window_days=N`) use a second key per fixed, epoch-aligned block of N days
(`window-<N>d-<first day>.key`), so the same client is linked across up to N days; this is an explicit
opt-in because it lengthens how long requests can be linked. Its key is deleted like a day key, once
the block ended before yesterday.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import logging
import os
import pathlib
import re
import socket
import time
from typing import Any, Final

from pkgate.errors import ConfigError
from pkgate.fsutil import TMP_PREFIX, create_once

__all__ = [
    "DAY_US",
    "HLL_P",
    "KEY_BYTES",
    "PERIODS",
    "SourceHasher",
    "day_name",
    "day_of",
    "hll_mark",
    "load_or_create_key",
    "network_of",
    "normalise_ip",
    "period_of",
]

log = logging.getLogger(__name__)

#: Microseconds in one UTC day (no leap seconds in epoch time).
DAY_US: Final = 86_400_000_000
KEY_BYTES: Final = 32
DIGEST_BYTES: Final = 10
MAX_WINDOW_DAYS: Final = 366
_EPOCH: Final = dt.date(1970, 1, 1)
_DAY_FILE: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})\.key$")
_WINDOW_FILE: Final = re.compile(r"^window-(\d+)d-(\d{4}-\d{2}-\d{2})\.key$")
_PERIOD_FILE: Final = re.compile(r"^(week|month)-(\d{4}-\d{2}-\d{2})\.key$")
#: The periods that get their own key and sketches.
PERIODS: Final = ("week", "month")
#: HyperLogLog precision: 2**12 = 4096 registers, standard error 1.04 / 64 = 1.6 %.
HLL_P: Final = 12
_HLL_BITS: Final = 64 - HLL_P
_TMP_PREFIX: Final = TMP_PREFIX
_TMP_MAX_AGE_S: Final = 60.0
# Domain separation: an address and a network never hash alike, nor day and window ids.
_P_SOURCE: Final = b"pkgate-source"
_P_NETWORK: Final = b"pkgate-network"
_BASES_MAX: Final = 64  # keyed hashers kept (`SourceHasher._hash`): a few keys are in use at once
_P_MARK_SOURCE: Final = b"pkgate-hll-src"
_P_MARK_NETWORK: Final = b"pkgate-hll-net"
_V4_MAPPED: Final = bytes(10) + b"\xff\xff"


def day_of(ts_us: int) -> int:
    """UTC day number (days since 1970-01-01) of a timestamp in microseconds."""
    return ts_us // DAY_US


@functools.lru_cache(maxsize=1024)
def day_name(day: int) -> str:
    """`YYYY-MM-DD` of a UTC day number: the name of that day's key file (cached: asked for every
    address not seen that day)."""
    return (_EPOCH + dt.timedelta(days=day)).isoformat()


def _day_from_name(name: str) -> int:
    return (dt.date.fromisoformat(name) - _EPOCH).days


def period_of(kind: str, day: int) -> tuple[int, int]:
    """(first, last) UTC day number of the ISO week or calendar month containing `day`."""
    if kind == "week":
        first = day - (day + 3) % 7  # 1970-01-01 was a Thursday
        return first, first + 6
    date = _EPOCH + dt.timedelta(days=day)
    start = date.replace(day=1)
    nxt = (start + dt.timedelta(days=32)).replace(day=1)
    return (start - _EPOCH).days, (nxt - _EPOCH).days - 1


def hll_mark(digest: bytes) -> int:
    """A 64-bit keyed hash -> `(register << 6) | rank`: the top `HLL_P` bits pick the register, the
    rank is 1 + the number of leading zeros of the rest (1..53)."""
    x = int.from_bytes(digest, "big")
    register, rest = x >> _HLL_BITS, x & ((1 << _HLL_BITS) - 1)
    return register << 6 | (_HLL_BITS - rest.bit_length() + 1)


def normalise_ip(ip: str) -> tuple[str, str]:
    """(address, network) in canonical text; IPv4-mapped IPv6 becomes IPv4, zone ids are dropped.

    The network is the /24 (IPv4) or /48 (IPv6). An unparseable string is its own address and network,
    so a bad peer string still gets a stable id instead of an error.
    """
    text = ip.strip()
    try:
        if ":" not in text:
            v4 = ipaddress.IPv4Address(text)
        else:
            v6 = ipaddress.IPv6Address(text)
            mapped = v6.ipv4_mapped
            if mapped is None:
                value = int(v6)  # int() drops a %zone suffix
                return str(ipaddress.IPv6Address(value)), f"{ipaddress.IPv6Address(value >> 80 << 80)}/48"
            v4 = mapped
    except ValueError:
        return ip, ip
    canonical = str(v4)
    return canonical, f"{canonical.rpartition('.')[0]}.0/24"


def _material(ip: str) -> tuple[bytes, bytes]:
    """What is hashed for an address and for its network: tagged packed bytes, so that ids do not
    depend on how a platform formats addresses. An unparseable string is its own network."""
    text = ip.strip()
    try:
        if ":" not in text:
            v4 = socket.inet_pton(socket.AF_INET, text)
            return b"\x04" + v4, b"\x04" + v4[:3]
        v6 = socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    except (OSError, ValueError):
        raw = b"\x00" + ip.encode("utf-8", "surrogatepass")
        return raw, raw
    if v6[:12] == _V4_MAPPED:
        return b"\x04" + v6[12:], b"\x04" + v6[12:15]
    return b"\x06" + v6, b"\x06" + v6[:6]


def network_of(ip: str) -> str:
    """The /24 or /48 of an address, as text (the string itself when it is no address)."""
    return normalise_ip(ip)[1]


def _read_key(path: pathlib.Path) -> bytes | None:
    """The key in `path`, or None if absent. Files are published whole, so any other size is damage."""
    try:
        with path.open("rb") as f:
            data = f.read(KEY_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(data) != KEY_BYTES:
        raise OSError(f"key file {path} is damaged: expected {KEY_BYTES} bytes")
    return data


def load_or_create_key(path: pathlib.Path, key: bytes | None = None) -> bytes:
    """The key stored at `path`, creating it (from `key`, else random) so concurrent processes agree.

    Published with `fsutil.create_once` (complete before the name appears, first writer wins), so
    readers never see a partial key.
    """
    for _ in range(3):  # a winner's file purged before we read it: try again
        existing = _read_key(path)
        if existing is not None:
            return existing
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = key if key is not None and len(key) == KEY_BYTES else os.urandom(KEY_BYTES)
        try:
            create_once(path, key)
        except FileNotFoundError:
            continue
        existing = _read_key(path)
        if existing is not None:
            return existing
    raise OSError(f"cannot create or read key file {path}")


class SourceHasher:
    """Turns an address into (source_id, network_id) under the key of the timestamp's UTC day."""

    def __init__(
        self, keys_dir: pathlib.Path, window_days: int | None = None, *, cache_size: int = 65536
    ) -> None:
        if window_days and not 1 <= window_days <= MAX_WINDOW_DAYS:
            raise ConfigError(
                f"privacy.window_days must be between 1 and {MAX_WINDOW_DAYS} (or unset), got {window_days}"
            )
        self.keys_dir = pathlib.Path(keys_dir)
        self.window_days = window_days or None
        self._cache_size = max(0, cache_size)
        self._cache: dict[tuple[int, str], tuple[str, str]] = {}
        self._keys: dict[str, bytes] = {}  # file name -> key, today's and yesterday's only
        self._bases: dict[bytes, tuple[Any, Any]] = {}  # key -> its two keyed hashers (`_hash`)
        self._newest_day: int | None = None

    # -- keys -------------------------------------------------------------------------------------
    def _key(self, name: str, day: int, last_day: int) -> bytes:
        """The key stored under file `name` for an event of `day`; the key covers days up to
        `last_day`. Never raises: when the key file cannot be used, a process-local key is."""
        key = self._keys.get(name)
        if key is not None:
            return key
        if self._newest_day is not None and last_day < self._newest_day - 1:
            # The key of that day is destroyed: never recreate it. A late event gets an id that
            # links to nothing outside this process.
            return self._ephemeral(name)
        if self._newest_day is None or day > self._newest_day:
            self._rotate(day)
        try:
            key = load_or_create_key(self.keys_dir / name)
        except (OSError, ValueError) as exc:
            log.warning("cannot use source-id key %s (%s); using a process-local key", name, exc)
            key = self._ephemeral(name)
        self._keys[name] = key
        return key

    def _ephemeral(self, name: str) -> bytes:
        key = self._keys.get("~" + name)
        if key is None:
            key = self._keys["~" + name] = self._new_ephemeral(name)
        return key

    def _new_ephemeral(self, name: str) -> bytes:
        """The stand-in key `name` gets when first asked for: random, in memory only."""
        return os.urandom(KEY_BYTES)

    def _rotate(self, day: int) -> None:
        """A new newest day: forget older keys and ids in memory, delete old key files on disk."""
        self._newest_day = day
        self._cache.clear()
        self._bases.clear()  # they hold keys: a destroyed key must not live on in them
        for name in list(self._keys):
            if self._name_day_end(name.lstrip("~")) < day - 1:
                del self._keys[name]
        try:
            self.purge_old_keys(day * DAY_US)
        except OSError as exc:
            log.warning("cannot purge old source-id keys in %s: %s", self.keys_dir, exc)

    @staticmethod
    def _name_day_end(name: str) -> int:
        """Last day a key file name covers (day keys: that day; window keys: end of the block)."""
        m = _DAY_FILE.match(name)
        if m:
            return _day_from_name(m.group(1))
        m = _WINDOW_FILE.match(name)
        if m:
            return _day_from_name(m.group(2)) + int(m.group(1)) - 1
        m = _PERIOD_FILE.match(name)
        if m:
            return period_of(m.group(1), _day_from_name(m.group(2)))[1]
        return -(10**9)

    def purge_old_keys(self, now_us: int) -> list[pathlib.Path]:
        """Delete key files whose days ended before yesterday (or lie more than a day ahead).

        Also removes temporary files left by a crashed writer. Returns the deleted paths.
        """
        today = day_of(now_us)
        deleted: list[pathlib.Path] = []
        try:
            entries = list(os.scandir(self.keys_dir))
        except FileNotFoundError:
            return deleted
        for entry in entries:
            path = pathlib.Path(entry.path)
            name = entry.name
            try:
                if name.startswith(_TMP_PREFIX):
                    stale = time.time() - entry.stat().st_mtime > _TMP_MAX_AGE_S
                else:
                    m = _WINDOW_FILE.match(name) or _PERIOD_FILE.match(name)
                    first = _day_from_name(m.group(2)) if m else None
                    end = self._name_day_end(name)
                    if first is None and not _DAY_FILE.match(name):
                        continue  # not ours
                    start = end if first is None else first
                    stale = end < today - 1 or start > today + 1
                if stale:
                    path.unlink(missing_ok=True)
                    deleted.append(path)
            except (OSError, ValueError):
                continue
        return deleted

    # -- ids --------------------------------------------------------------------------------------
    def ids(self, ip: str, ts_us: int) -> tuple[str, str]:
        """(source_id, network_id) of `ip` at `ts_us`: equal within a UTC day, unlinkable across days."""
        day = ts_us // DAY_US
        cache_key = (day, ip)
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        try:
            key = self._key(f"{day_name(day)}.key", day, day)
        except (OverflowError, ValueError):  # a timestamp outside years 1..9999
            key = self._ephemeral(f"bad-day-{day}")
        result = self._hash(key, ip)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            self._cache[cache_key] = result
        return result

    def window_ids(self, ip: str, ts_us: int) -> tuple[str, str]:
        """Like `ids`, but linked across the fixed `window_days` block containing `ts_us` (opt-in)."""
        if self.window_days is None:
            raise ConfigError("window ids need privacy.window_days to be set")
        day = ts_us // DAY_US
        first = day // self.window_days * self.window_days
        try:
            # The key lives until the block's last day is older than yesterday.
            name = f"window-{self.window_days}d-{day_name(first)}.key"
            key = self._key(name, day, first + self.window_days - 1)
        except (OverflowError, ValueError):
            key = self._ephemeral(f"bad-window-{first}")
        return self._hash(key, ip)

    def marks(self, ip: str, ts_us: int) -> list[int]:
        """HyperLogLog marks of `ip` at `ts_us`: [week source, week network, month source, month
        network], each under its period's key (see the module docstring)."""
        day = ts_us // DAY_US
        addr, net = _material(ip)
        out = []
        for kind in PERIODS:
            try:
                first, last = period_of(kind, day)
                key = self._key(f"{kind}-{day_name(first)}.key", day, last)
            except (OverflowError, ValueError):
                key = self._ephemeral(f"bad-{kind}-{day}")
            for material, person in ((addr, _P_MARK_SOURCE), (net, _P_MARK_NETWORK)):
                digest = hashlib.blake2b(material, key=key, digest_size=8, person=person).digest()
                out.append(hll_mark(digest))
        return out

    def _hash(self, key: bytes, ip: str) -> tuple[str, str]:
        """Keyed BLAKE2b of the address and of its network. Each key's two hashers are set up
        once and copied: a keyed start costs a compressed block, a copy a third of it."""
        bases = self._bases.get(key)
        if bases is None:
            if len(self._bases) >= _BASES_MAX:
                self._bases.clear()
            bases = self._bases[key] = (
                hashlib.blake2b(key=key, digest_size=DIGEST_BYTES, person=_P_SOURCE),
                hashlib.blake2b(key=key, digest_size=DIGEST_BYTES, person=_P_NETWORK),
            )
        addr, net = _material(ip)
        source, network = bases[0].copy(), bases[1].copy()
        source.update(addr)
        network.update(net)
        return source.hexdigest(), network.hexdigest()
