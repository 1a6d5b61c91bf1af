"""What every log parser produces: one `Record` per request line, or a `BadLine` with a reason.

A record still holds the client address (`ip`, `forwarded_for`): it lives only in memory, between
the parser and the enricher, exactly like the peer address inside the gateway.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final
from urllib.parse import unquote_to_bytes

import msgspec

__all__ = ["MAX_FIELD", "BadLine", "Record", "iso_us", "number_us", "unescape"]

#: Longest text kept from any one field before it reaches an event (events cut further).
MAX_FIELD: Final = 8192


class BadLine(Exception):
    """The line is not a request of the format; `reason` is a short stable key for the summary."""

    def __init__(self, reason: str, detail: str = "") -> None:
        detail = "".join(c if c.isprintable() else "?" for c in detail[:80])
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Record(msgspec.Struct, kw_only=True):
    """One logged request. `partial` and `conditional` are None when the format does not say."""

    ts_us: int
    ip: str
    method: str
    target: str  # request target as logged: path, optionally ?query
    status: int
    user_agent: str = ""
    duration_us: int = 0
    partial: bool | None = None  # the request carried a Range header
    conditional: bool | None = None  # it carried If-None-Match / If-Modified-Since
    forwarded_for: str | None = None  # X-Forwarded-For as logged (believed for trusted proxies only)
    command: str | None = None  # the client's subcommand header (`npm-command: ci`) when logged


def unescape(text: str) -> str:
    r"""Undo nginx/Apache log escaping (`\xHH`, `\"`, `\\`, `\n`...); bytes decode as UTF-8, bad
    sequences become U+FFFD. Text without a backslash is returned as is (the common case)."""
    if "\\" not in text:
        return text
    # Escapes the servers do not write (a stray backslash) are kept as written.
    return _ESCAPE.sub(_one_escape, text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")


_ESCAPE: Final = re.compile(rb"\\(x[0-9A-Fa-f]{2}|.)", re.S)
_SIMPLE: Final = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b'"': b'"', b"\\": b"\\"}


def _one_escape(m: re.Match[bytes]) -> bytes:
    code = m.group(1)
    if len(code) == 3:
        return bytes([int(code[1:], 16)])
    return _SIMPLE.get(code, m.group(0))


def percent_decoded(text: str) -> str:
    """`%XX` decoding as UTF-8 with U+FFFD for bad sequences (CloudFront writes fields this way)."""
    if "%" not in text:
        return text
    return unquote_to_bytes(text).decode("utf-8", "replace")


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso_us(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 / RFC 3339 time (no zone: UTC)."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadLine("timestamp", text[:64]) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def number_us(value: float) -> int:
    """Epoch microseconds from a number in seconds, milliseconds, microseconds or nanoseconds
    (told apart by magnitude: any of them for dates between 1973 and 2286)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value <= 0:
        raise BadLine("timestamp", repr(value)[:64])
    if value < 1e11:
        return round(value * 1_000_000)
    if value < 1e14:
        return round(value * 1_000)
    if value < 1e17:
        return int(value)
    if value < 1e20:
        return int(value) // 1_000
    raise BadLine("timestamp", repr(value)[:64])
