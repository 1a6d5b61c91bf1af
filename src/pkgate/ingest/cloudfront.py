"""Amazon CloudFront standard logs (legacy access logs): tab-separated, `#Version` and `#Fields`
header lines naming the columns, times in UTC, fields URL-encoded.

The columns are read by the names in `#Fields` (the documented default order is assumed when a
file starts without headers). `sc-range-start` / `sc-range-end` (or a 206) mark a partial read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pkgate.ingest.record import MAX_FIELD, BadLine, Record, iso_us, percent_decoded

__all__ = ["DEFAULT_FIELDS", "CloudFrontParser", "fields_of"]

DEFAULT_FIELDS: Final = tuple(
    [
        "date",
        "time",
        "x-edge-location",
        "sc-bytes",
        "c-ip",
        "cs-method",
        "cs(Host)",
        "cs-uri-stem",
        "sc-status",
        "cs(Referer)",
        "cs(User-Agent)",
        "cs-uri-query",
        "cs(Cookie)",
        "x-edge-result-type",
        "x-edge-request-id",
        "x-host-header",
        "cs-protocol",
        "cs-bytes",
        "time-taken",
        "x-forwarded-for",
        "ssl-protocol",
        "ssl-cipher",
        "x-edge-response-result-type",
        "cs-protocol-version",
        "fle-status",
        "fle-encrypted-fields",
        "c-port",
        "time-to-first-byte",
        "x-edge-detailed-result-type",
        "sc-content-type",
        "sc-content-len",
        "sc-range-start",
        "sc-range-end",
    ]
)
_NEEDED: Final = ("date", "time", "c-ip", "cs-method", "cs-uri-stem", "sc-status")


def fields_of(header: str) -> tuple[str, ...] | None:
    """The column names of a `#Fields: ...` line, or None if it is not one."""
    if not header.startswith("#Fields:"):
        return None
    return tuple(header[len("#Fields:") :].split())


class CloudFrontParser:
    name = "cloudfront"

    def __init__(self, fields: Sequence[str] = DEFAULT_FIELDS) -> None:
        self._set(tuple(fields))

    def _set(self, fields: tuple[str, ...]) -> None:
        missing = [f for f in _NEEDED if f not in fields]
        if missing:
            raise BadLine("header", f"#Fields lacks {', '.join(missing)}")
        self.fields = fields
        self._at = {name: i for i, name in enumerate(fields)}
        self._width = len(fields)

    def parse(self, line: str) -> Record | None:
        if not line or line.isspace():
            return None
        if line.startswith("#"):
            named = fields_of(line)
            if named is not None:
                self._set(named)  # a later header (concatenated files) wins from here on
            return None
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) < self._width:
            raise BadLine("columns", f"{len(cols)} of {self._width}")
        at = self._at

        def col(name: str) -> str:
            i = at.get(name)
            value = cols[i] if i is not None else "-"
            return "" if value == "-" else value

        try:
            code = int(col("sc-status"))
        except ValueError:
            raise BadLine("status", col("sc-status")[:16]) from None
        if not 100 <= code <= 599:
            raise BadLine("status", str(code))
        method = col("cs-method").upper()
        stem = col("cs-uri-stem")[:MAX_FIELD]
        if not (0 < len(method) <= 16 and method.isalpha()) or not stem.startswith("/"):
            raise BadLine("request", f"{method[:16]} {stem[:48]}")
        query = col("cs-uri-query")
        target = percent_decoded(stem) + (f"?{query}" if query else "")
        taken = col("time-taken")
        try:
            duration = min(int(float(taken) * 1e6), 2**31 - 1) if taken else 0
        except ValueError:
            duration = 0
        ranged = bool(col("sc-range-start") or col("sc-range-end")) or code == 206
        ua = percent_decoded(percent_decoded(col("cs(User-Agent)")[:MAX_FIELD]))
        xff = col("x-forwarded-for")
        return Record(
            ts_us=iso_us(f"{col('date')}T{col('time')}+00:00"),
            ip=col("c-ip"),
            method=method,
            target=target,
            status=code,
            user_agent=ua,
            duration_us=max(duration, 0),
            partial=ranged,
            conditional=True if code == 304 else None,
            forwarded_for=xff or None,
        )
