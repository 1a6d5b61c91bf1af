"""nginx `combined` and Apache combined (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`).

Both servers write the same layout; they differ only in escaping (nginx `\\xHH`, Apache `\\"` and
`\\xhh`), which `unescape` handles alike. Trailing fields after the User-Agent (a custom
`combined` + `$request_time`) are allowed and ignored. The layout cannot tell whether a request had
a `Range` header, so only a 206 answer marks it partial; nor whether it was conditional, so only a
304 marks it so (the JSON format logs both, see docs/ingest.md).
"""

from __future__ import annotations

import re
from typing import Any, Final

from pkgate.ingest.record import MAX_FIELD, BadLine, Record, unescape

__all__ = ["CombinedParser", "agent_text", "clf_time_us", "request_of", "status_of"]

_QUOTED: Final = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_LINE: Final = re.compile(
    r"(\S+) \S+ (?:\S+|" + _QUOTED + r") \[([^\]]{1,64})\] " + _QUOTED + r" (\d{3}) (\S+)"
    r"(?: " + _QUOTED + " " + _QUOTED + ")?"
)
# nginx never writes a bare `"` or `\` inside a field (it writes `\x22`, `\x5C`): the same layout
# with quoted fields free of quotes matches such a line about eight times faster (no backtracking
# over escapes). Its answer is the full pattern's whenever no field it found ends in a backslash (an
# escaped quote, Apache's `\"`); otherwise, or when it does not match, the full pattern decides.
_QUICK: Final = re.compile(
    r'(\S+) \S+ (?:\S+|"([^"]*)") \[([^\]]{1,64})\] "([^"]*)" (\d{3}) (\S+)(?: "([^"]*)" "([^"]*)")?'
)
_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_DAYS_BEFORE: Final = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_time_cache: dict[str, int] = {}
_last_time: list[Any] = [None, 0]  # the last time text and its value
_ua_cache: dict[str, str] = {}
_request_cache: dict[str, tuple[str, str]] = {}


def _days(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (proleptic Gregorian), without building datetime objects."""
    leap = month > 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0))
    y = year - 1
    return y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE[month] + leap + day - 719163


def clf_time_us(text: str) -> int:
    """Epoch microseconds of a Common Log Format time, `10/Oct/2000:13:55:36 -0700`.

    Busy logs repeat the same second, and the same minute, many times: a line in the second of the
    one before it costs a comparison; in a minute seen before, a slice, a lookup and the seconds.
    """
    last = _last_time
    if text == last[0]:
        return last[1]  # type: ignore[no-any-return]
    value = _time_us(text)
    last[0], last[1] = text, value
    return value


def clear_time_caches() -> None:
    """Forget every time seen (tests: the long way must answer as the cached one)."""
    _time_cache.clear()
    _last_time[:] = [None, 0]


def _time_us(text: str) -> int:
    if len(text) == 26 and text[17] == ":":
        cached = _time_cache.get(text[:17] + text[20:])
        ss = text[18:20]
        if cached is not None and ss.isdigit() and ss.isascii() and int(ss) < 61:
            return cached + int(ss) * 1_000_000
    try:
        if len(text) != 26 or text[2] != "/" or text[6] != "/" or text[11] != ":" or text[20] != " ":
            raise ValueError(text)
        day, month, year = int(text[0:2]), _MONTHS[text[3:6]], int(text[7:11])
        hh, mm, ss_ = int(text[12:14]), int(text[15:17]), int(text[18:20])
        sign, oh, om = text[21], int(text[22:24]), int(text[24:26])
        if sign not in "+-" or not (1 <= day <= 31 and hh < 24 and mm < 60 and ss_ < 61 and om < 60):
            raise ValueError(text)
    except (ValueError, KeyError):
        raise BadLine("timestamp", text[:64]) from None
    offset = (oh * 60 + om) * 60 * (1 if sign == "+" else -1)
    minute = ((_days(year, month, day) * 86400 + hh * 3600 + mm * 60) - offset) * 1_000_000
    if len(_time_cache) >= 4096:
        _time_cache.clear()
    _time_cache[text[:17] + text[20:]] = minute
    return minute + ss_ * 1_000_000


def split_request(request: str) -> tuple[str, str]:
    """(method, target) of a request line `GET /path?q HTTP/1.1` (HTTP/0.9: no version)."""
    parts = request.split(" ")
    if (len(parts) == 3 and parts[2].startswith("HTTP/")) or len(parts) == 2:
        method, target = parts[0], parts[1]
        if 0 < len(method) <= 16 and method.isalpha() and target[:1] in ("/", "h", "*"):
            return method.upper(), target[:MAX_FIELD]
    raise BadLine("request", request[:64])


def fields(line: str) -> tuple[Any, ...]:
    """The eight fields of a combined line (user, referer and agent may be None); BadLine if none."""
    m = _QUICK.match(line)
    if m is not None:
        found = m.groups()
        # A quoted field the quick pattern cut at an escaped quote ends in a backslash (a field
        # not cut there is the full pattern's too); no referer and agent may mean such a quote
        # made the optional part fail. (Asking the line for `\"` costs as much as the match: an
        # nginx agent is full of `\x22`.)
        user, request, referer, agent = found[1], found[3], found[6], found[7]
        if agent is not None and not (
            agent.endswith("\\")
            or request.endswith("\\")
            or referer.endswith("\\")
            or (user or "").endswith("\\")
        ):
            return found
    m = _LINE.match(line)
    if m is None:
        raise BadLine("syntax")
    return m.groups()


def request_of(request: str) -> tuple[str, str]:
    """(method, target) of a logged request field (cached: a log has few distinct requests)."""
    split = _request_cache.get(request)
    if split is None:
        split = split_request(unescape(request))
        if len(_request_cache) >= 4096:
            _request_cache.clear()
        _request_cache[request] = split
    return split


def status_of(status: str) -> int:
    """The code of a logged status field (three digits); BadLine outside 100-599."""
    code = int(status)
    if not 100 <= code <= 599:
        raise BadLine("status", status)
    return code


def agent_text(agent: str | None) -> str:
    """The User-Agent of a logged agent field: `-` or none is no agent (cached, as `request_of`)."""
    if not agent or agent == "-":
        return ""
    ua = _ua_cache.get(agent)
    if ua is None:
        ua = unescape(agent[:MAX_FIELD])
        if len(_ua_cache) >= 4096:
            _ua_cache.clear()
        _ua_cache[agent] = ua
    return ua


class CombinedParser:
    """One line of the combined layout -> Record."""

    name = "combined"

    def parse(self, line: str) -> Record | None:
        if not line or line.isspace():
            return None
        ip, _user, when, request, status, _size, _referer, agent = fields(line)
        method, target = request_of(request)
        code = status_of(status)
        ua = agent_text(agent)
        return Record(
            ts_us=clf_time_us(when),
            ip=ip,
            method=method,
            target=target,
            status=code,
            user_agent=ua,
            partial=True if code == 206 else None,
            conditional=True if code == 304 else None,
        )
