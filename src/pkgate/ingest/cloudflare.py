"""Cloudflare Logpush, `http_requests` dataset, JSON lines (any `timestamp_format`: unixnano, unix,
rfc3339). Cloudflare logs no Range header; a 206 marks a partial read."""

from __future__ import annotations

from typing import Any, Final

from pkgate.ingest.jsonlines import JsonParser

__all__ = ["CLOUDFLARE_FIELDS", "CloudflareParser", "looks_like_cloudflare"]

CLOUDFLARE_FIELDS: Final = {
    "ts": "EdgeStartTimestamp",
    "ip": "ClientIP",
    "method": "ClientRequestMethod",
    "target": "ClientRequestURI",
    "path": "ClientRequestPath",
    "query": "ClientRequestQuery",
    "status": "EdgeResponseStatus",
    "user_agent": "ClientRequestUserAgent",
}


def looks_like_cloudflare(obj: dict[str, Any]) -> bool:
    return (
        "ClientIP" in obj
        and "EdgeStartTimestamp" in obj
        and ("ClientRequestURI" in obj or "ClientRequestPath" in obj)
    )


class CloudflareParser(JsonParser):
    def __init__(self) -> None:
        super().__init__("cloudflare", CLOUDFLARE_FIELDS)
