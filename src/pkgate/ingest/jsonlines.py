"""JSON lines: one object per line, read through a field mapping (pkgate field -> the log's key).

The nginx JSON format and Cloudflare Logpush are presets of this parser (`nginx_json`,
`cloudflare`); anything else (Fastly, Caddy, a custom format) is mapped in the config with
`ingest.json_fields`. Keys may name nested values with dots (`request.headers.user-agent`).
A time may be a number (seconds, milliseconds, microseconds or nanoseconds since the epoch, told
apart by magnitude) or text (ISO 8601, or the `10/Oct/2000:13:55:36 -0700` of common logs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from pkgate.errors import ConfigError
from pkgate.ingest.combined import clf_time_us, split_request
from pkgate.ingest.record import MAX_FIELD, BadLine, Record, iso_us, number_us

__all__ = ["FASTLY", "FIELDS", "JsonParser", "mapping"]

#: The pkgate fields a mapping may name; `ts`, `ip`, `status` and a request are required.
FIELDS: Final = (
    "ts",  # time the request started
    "ip",  # client address
    "method",
    "target",  # path with query (or `path` + `query`)
    "path",
    "query",
    "request",  # a whole request line "GET /x HTTP/1.1" instead of method + target
    "status",
    "user_agent",
    "duration",  # seconds, as nginx's $request_time (a number or text)
    "duration_ms",
    "range",  # the Range header; non-empty means a partial read
    "if_none_match",
    "if_modified_since",
    "forwarded_for",  # X-Forwarded-For (believed only from privacy.trusted_proxies)
    "command",  # the `npm-command` header npm, pnpm and yarn send (install, ci, ...)
)
#: Fastly's documented JSON logging example (the default generic mapping).
FASTLY: Final = {
    "ts": "timestamp",
    "ip": "client_ip",
    "method": "request_method",
    "target": "url",
    "status": "response_status",
    "user_agent": "request_user_agent",
}
_decode = msgspec.json.Decoder().decode


def mapping(fields: Mapping[str, str], base: Mapping[str, str] = FASTLY) -> dict[str, str]:
    """`base` overridden by `fields`, checked: every key a known field, the essentials present."""
    merged = {**base, **fields}
    unknown = sorted(set(merged) - set(FIELDS))
    if unknown:
        raise ConfigError(f"ingest.json_fields: unknown field(s) {unknown}; known: {', '.join(FIELDS)}")
    for need in ("ts", "ip", "status"):
        if not merged.get(need):
            raise ConfigError(f"ingest.json_fields: {need!r} must name the log's key for it")
    if not (merged.get("request") or merged.get("target") or merged.get("path")):
        raise ConfigError("ingest.json_fields: one of 'request', 'target' or 'path' is required")
    return {k: v for k, v in merged.items() if v}


def _get(obj: dict[str, Any], key: str) -> Any:
    if key in obj:
        return obj[key]
    if "." not in key:
        return None
    value: Any = obj
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:MAX_FIELD]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise BadLine("field-type", type(value).__name__)


def _time(value: Any) -> int:
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 26 and text[2] == "/":
            return clf_time_us(text)
        try:
            return number_us(float(text))
        except ValueError:
            return iso_us(text)
    return number_us(value)


def _seconds_us(value: Any, scale: float) -> int:
    if value is None or value == "" or value == "-":
        return 0
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        return 0
    if not 0 <= number < 1e9:
        return 0
    return min(int(number * scale), 2**31 - 1)


class JsonParser:
    """One JSON object per line, read through `fields` (see `mapping`)."""

    def __init__(self, name: str, fields: Mapping[str, str]) -> None:
        self.name = name
        self.fields = dict(fields)

    def parse(self, line: str) -> Record | None:
        if not line or line.isspace():
            return None
        try:
            obj = _decode(line)
        except msgspec.DecodeError:
            raise BadLine("json") from None
        if not isinstance(obj, dict):
            raise BadLine("json", "not an object")
        f = self.fields
        when = _get(obj, f["ts"])
        ip = _text(_get(obj, f["ip"]))
        if when is None or when == "" or not ip:
            raise BadLine("missing-field", "ts" if when is None or when == "" else "ip")
        if "request" in f and _get(obj, f["request"]):
            method, target = split_request(_text(_get(obj, f["request"])))
        else:
            method = _text(_get(obj, f.get("method", ""))).upper() or "GET"
            target = _text(_get(obj, f["target"])) if "target" in f else ""
            if not target and "path" in f:
                target = _text(_get(obj, f["path"]))
                query = _text(_get(obj, f["query"])) if "query" in f else ""
                if query:
                    target += query if query.startswith("?") else "?" + query
            if not target.startswith(("/", "http")) or not (0 < len(method) <= 16 and method.isalpha()):
                raise BadLine("request", f"{method[:16]} {target[:48]}")
        status = _get(obj, f["status"])
        try:
            code = int(status)
        except (TypeError, ValueError):
            raise BadLine("status", _text(status)[:16]) from None
        if not 100 <= code <= 599:
            raise BadLine("status", str(code))
        duration = 0
        if "duration" in f:
            duration = _seconds_us(_get(obj, f["duration"]), 1e6)
        elif "duration_ms" in f:
            duration = _seconds_us(_get(obj, f["duration_ms"]), 1e3)
        partial: bool | None = True if code == 206 else None
        if "range" in f:
            partial = bool(_text(_get(obj, f["range"])).strip("- ")) or code == 206
        conditional: bool | None = True if code == 304 else None
        if "if_none_match" in f or "if_modified_since" in f:
            inm = _text(_get(obj, f["if_none_match"])) if "if_none_match" in f else ""
            ims = _text(_get(obj, f["if_modified_since"])) if "if_modified_since" in f else ""
            conditional = bool(inm.strip("- ") or ims.strip("- "))
        xff = _text(_get(obj, f["forwarded_for"])).strip() if "forwarded_for" in f else ""
        command = _text(_get(obj, f["command"])).strip() if "command" in f else ""
        return Record(
            ts_us=_time(when),
            ip=ip,
            method=method,
            target=target,
            status=code,
            user_agent=_text(_get(obj, f["user_agent"])) if "user_agent" in f else "",
            duration_us=duration,
            partial=partial,
            conditional=conditional,
            forwarded_for=xff if xff and xff != "-" else None,
            command=command if command and command != "-" else None,
        )
