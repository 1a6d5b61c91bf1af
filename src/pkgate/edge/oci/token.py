"""The gateway's token realm, `/v2/_token`: tokens come from the routed registry's token server.

A client asks with the scope of the repository it wants (`repository:<name>:pull`); the gateway
routes the name like any request, and asks that registry's realm (learnt from its own challenge,
so never a URL a client chose) with the registry's `service`, the client's scopes and the client's
credentials (or, without any, the upstream's configured ones). A registry without token auth gets
the client a placeholder token, which the gateway never sends on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode

import msgspec

from pkgate.edge.answers import method_not_allowed
from pkgate.edge.ecosystem import Response
from pkgate.edge.oci import answers
from pkgate.edge.oci.auth import ANONYMOUS, TOKEN_PATH, scope_repository
from pkgate.edge.oci.names import query_params
from pkgate.edge.oci.upstreams import Handle, challenge, send
from pkgate.edge.routing import Router
from pkgate.errors import UpstreamError

__all__ = ["PATH", "answer"]

PATH: Final = TOKEN_PATH
_PASSED: Final = frozenset({"scope", "account", "client_id", "offline_token"})
_ANONYMOUS: Final = msgspec.json.encode({"token": ANONYMOUS, "access_token": ANONYMOUS, "expires_in": 3600})
_MAX_TOKEN: Final = 1 << 20


async def answer(
    request_method: str, query: str, auth: str | None, router: Router, handles: Mapping[str, Handle]
) -> Response:
    if request_method not in ("GET", "HEAD"):
        return method_not_allowed()
    params = query_params(query)
    up = None
    for key, value in params:
        repository = scope_repository(value) if key == "scope" else None
        route = router.route(repository) if repository else None
        if route is not None:
            up = handles.get(route.upstreams[0])
            break
    if up is None and router.default is not None:
        up = handles.get(router.default.upstreams[0])
    found = await challenge(up) if up is not None else None
    if up is None or found is None:
        return Response(200, [("content-type", "application/json"), answers.API_VERSION], _ANONYMOUS)
    passed = [("service", found.service)] if found.service else []
    passed += [(k, v) for k, v in params if k in _PASSED]
    url = found.realm + ("&" if "?" in found.realm else "?") + urlencode(passed)
    headers = {"Authorization": auth} if auth else dict(up.client.headers)
    try:
        reply = await send(up, "GET", url, headers, _MAX_TOKEN)
    except UpstreamError as exc:
        return answers.error(502, "UNAVAILABLE", f"token server of {exc}")
    if reply.status == 200:
        return Response(
            200, [("content-type", "application/json"), ("cache-control", "no-store")], reply.body
        )
    code = "DENIED" if reply.status == 403 else "UNAUTHORIZED"
    return answers.error(
        reply.status if reply.status in (401, 403, 404) else 502, code, "the token server refused"
    )
