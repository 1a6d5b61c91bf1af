"""The OpenAPI 3.1 document of the JSON API, generated from the endpoint list and the row types.

Generated rather than written by hand so it cannot drift from what the handlers return: each row
type's JSON Schema comes from msgspec, the same library that encodes the responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from pkgate import __version__
from pkgate.web.params import DEFAULT_DAYS, MAX_DAYS

if TYPE_CHECKING:
    from pkgate.web.endpoints import Endpoint

__all__ = ["openapi_document"]

_COMMON_PARAMS: list[dict[str, Any]] = [
    {
        "name": "since",
        "in": "query",
        "description": f"Start (UTC, inclusive): a date or ISO 8601 timestamp. Default: {DEFAULT_DAYS} days "
        f"before `until`. The range may span at most {MAX_DAYS} days.",
        "schema": {"type": "string", "examples": ["2026-11-01", "2026-11-01T12:00:00Z"]},
    },
    {
        "name": "until",
        "in": "query",
        "description": "End (UTC, exclusive): a date or ISO 8601 timestamp. Default: now.",
        "schema": {"type": "string"},
    },
    {
        "name": "project",
        "in": "query",
        "description": "Only this project (any spelling; normalised as in PEP 503).",
        "schema": {"type": "string"},
    },
]

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The whole document as plain data (encode with any JSON encoder)."""
    row_schemas, components = msgspec.json.schema_components(
        [e.row_type for e in endpoints], ref_template="#/components/schemas/{name}"
    )
    components["Error"] = _ERROR
    components["Query"] = {
        "type": "object",
        "description": "The range and project the rows were computed for (defaults filled in).",
        "properties": {
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "project": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["since", "until"],
    }
    paths: dict[str, Any] = {}
    for endpoint, row_schema in zip(endpoints, row_schemas, strict=True):
        extra = [
            {
                "name": p.name,
                "in": "query",
                "description": p.description,
                "schema": p.schema,
                "required": p.required,
            }
            for p in endpoint.params
        ]
        paths[f"/api/{endpoint.name}"] = {
            "get": {
                "operationId": endpoint.name,
                "summary": endpoint.summary,
                "description": (endpoint.row_type.__doc__ or "").strip() or endpoint.summary,
                "parameters": _COMMON_PARAMS + extra,
                "responses": {
                    "200": {
                        "description": "The rows for the range.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "query": {"$ref": "#/components/schemas/Query"},
                                        "rows": {"type": "array", "items": row_schema},
                                    },
                                    "required": ["query", "rows"],
                                }
                            }
                        },
                    },
                    "400": _error("A parameter is malformed; the message names it."),
                    "401": _error("Missing or wrong admin token."),
                    "429": _error("Too many failed token checks from this address; see Retry-After."),
                    "503": _error("The store is not there yet or is busy; retry."),
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pkgate analytics API",
            "version": __version__,
            "description": "Usage insights computed from the requests the gateway recorded. "
            "Every endpoint requires `Authorization: Bearer <admin token>`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
