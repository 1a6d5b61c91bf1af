"""The HTTP JSON API under `/api/`: every analytics route requires `Authorization: Bearer <token>`.

The store is opened read-only per request and closed before answering, because the gateway's loader
needs the write lock every second; queries run in a worker thread so one slow query does not stall
the event loop. Errors are JSON `{"error": ...}` with the status that says whose fault it was:
400 (bad parameter, message names it), 401 (no or wrong token), 503 (store not there or busy).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pkgate.errors import PkgateError
from pkgate.insights.params import ParamError, parse_query
from pkgate.insights.registry import INSIGHTS
from pkgate.insights.spec import Insight
from pkgate.store import connect
from pkgate.web.openapi import openapi_document

__all__ = ["JSON_HEADERS", "api_routes", "json_response", "token_ok"]

JSON_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
_ENCODER = msgspec.json.Encoder()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _ENCODER.encode(body), status, {**JSON_HEADERS, **(headers or {})}, media_type="application/json"
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def token_ok(request: Request, token: str) -> bool:
    """Constant-time check of the bearer token (a timing leak must not reveal a prefix)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode())


Handler = Callable[[Request], Awaitable[Response]]


def _handler(insight: Insight, store: Path, token: str) -> Handler:
    async def handle(request: Request) -> Response:
        if not token_ok(request, token):
            return _error(401, "missing or wrong admin token", {"www-authenticate": 'Bearer realm="pkgate"'})
        params = dict(request.query_params)
        try:
            q = parse_query(params)
            args = insight.parse(params)
            q = insight.query(q, args)
        except ParamError as exc:
            return _error(400, str(exc))

        def run() -> Any:
            con = connect(store, read_only=True, wait=5.0)
            try:
                return insight.run(con, q, args)
            finally:
                con.close()

        try:
            rows = await run_in_threadpool(run)
        except ParamError as exc:
            return _error(400, str(exc))
        except PkgateError as exc:
            return _error(503, str(exc), {"retry-after": "2"})
        return json_response({"query": q, "params": args, "rows": rows})

    return handle


def api_routes(store: Path, token: str) -> list[Route]:
    """Routes for every insight plus `/api/openapi.json` (public: it describes, it holds no data)."""
    doc = _ENCODER.encode(openapi_document(INSIGHTS))

    async def openapi(request: Request) -> Response:
        return Response(doc, 200, JSON_HEADERS, media_type="application/json")

    async def not_found(request: Request) -> Response:
        if not token_ok(request, token):
            return _error(401, "missing or wrong admin token", {"www-authenticate": 'Bearer realm="pkgate"'})
        return _error(404, f"no such endpoint: {request.url.path[:200]}")

    routes = [Route("/api/openapi.json", openapi, methods=["GET"])]
    routes += [Route(f"/api/{i.name}", _handler(i, store, token), methods=["GET"]) for i in INSIGHTS]
    routes.append(Route("/api/{rest:path}", not_found))
    return routes
