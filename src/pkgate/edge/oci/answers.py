"""Answers in the distribution API's own form: JSON errors, the ping, the gateway's challenge."""

from __future__ import annotations

from typing import Final

import msgspec

from pkgate.edge.ecosystem import Response
from pkgate.edge.oci.auth import gateway_realm, render_challenge
from pkgate.edge.recorder import Headers

__all__ = ["API_VERSION", "SERVICE", "Response", "error", "ping", "unauthorized"]

#: Every answer under `/v2/` says which API it speaks (clients check it on the ping).
API_VERSION: Final = ("docker-distribution-api-version", "registry/2.0")
#: The `service` of the gateway's challenges (its token endpoint ignores what a client sends back).
SERVICE: Final = "pkgate"
_JSON: Final = ("content-type", "application/json")


def error(status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    body = msgspec.json.encode({"errors": [{"code": code, "message": message}]})
    return Response(status, [_JSON, API_VERSION, *(extra or [])], body)


def ping() -> Response:
    return Response(200, [_JSON, API_VERSION], b"{}")


def unauthorized(headers: Headers, scope: str | None) -> Response:
    """401 with a challenge naming the gateway's realm (or, without a usable Host, no challenge)."""
    realm = gateway_realm(headers)
    extra = [("www-authenticate", render_challenge(realm, SERVICE, scope))] if realm else []
    return error(401, "UNAUTHORIZED", "authentication required", extra)
