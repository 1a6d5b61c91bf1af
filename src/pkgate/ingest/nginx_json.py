"""The nginx JSON `log_format` of docs/ingest.md: keys named after the nginx variables they hold.

    log_format pkgate escape=json '{"msec":$msec,"remote_addr":"$remote_addr",'
      '"request_method":"$request_method","request_uri":"$request_uri","status":$status,'
      '"request_time":$request_time,"http_user_agent":"$http_user_agent","http_range":"$http_range",'
      '"http_if_none_match":"$http_if_none_match","http_if_modified_since":"$http_if_modified_since",'
      '"http_x_forwarded_for":"$http_x_forwarded_for","http_npm_command":"$http_npm_command"}';

Unlike `combined` it says whether a request had a Range header (uv's lazy metadata reads are not
downloads) and whether it was a conditional revalidation, and it has millisecond times. A format
that logs `$time_iso8601` or `$time_local` instead of `$msec`, or `$request` instead of method and
URI, is read too. `$http_npm_command` is the subcommand npm, pnpm and yarn name on every request.
"""

from __future__ import annotations

from typing import Any, Final

from pkgate.ingest.jsonlines import JsonParser

__all__ = ["NGINX_FIELDS", "NginxJsonParser", "looks_like_nginx"]

NGINX_FIELDS: Final = {
    "ts": "msec",
    "ip": "remote_addr",
    "method": "request_method",
    "target": "request_uri",
    "request": "request",
    "status": "status",
    "user_agent": "http_user_agent",
    "duration": "request_time",
    "range": "http_range",
    "if_none_match": "http_if_none_match",
    "if_modified_since": "http_if_modified_since",
    "forwarded_for": "http_x_forwarded_for",
    "command": "http_npm_command",
}
_TIME_KEYS: Final = ("msec", "time_iso8601", "time_local")


def looks_like_nginx(obj: dict[str, Any]) -> bool:
    return (
        "remote_addr" in obj
        and any(k in obj for k in _TIME_KEYS)
        and ("request_uri" in obj or "request" in obj)
    )


class NginxJsonParser(JsonParser):
    def __init__(self, sample: dict[str, Any] | None = None) -> None:
        fields = dict(NGINX_FIELDS)
        if sample is not None:
            fields["ts"] = next((k for k in _TIME_KEYS if k in sample), "msec")
            if "request_uri" not in sample:
                fields.pop("target")
                fields.pop("method")
        super().__init__("nginx-json", fields)
