"""The OpenAPI 3.1 document of the JSON API, generated from the insight specs and their row types.

Generated rather than written by hand so it cannot drift from what the handlers return: each row
type's JSON Schema comes from msgspec, the same library that encodes the responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from pkgate import __version__
from pkgate.insights.params import DEFAULT_DAYS, ECOSYSTEMS, MAX_DAYS

if TYPE_CHECKING:
    from pkgate.insights.spec import Insight

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
        "description": "End (UTC, exclusive): a date or ISO 8601 timestamp. Default: the next UTC midnight.",
        "schema": {"type": "string"},
    },
    {
        "name": "project",
        "in": "query",
        "description": "Only this project (any spelling; normalised as in PEP 503).",
        "schema": {"type": "string"},
    },
    {
        "name": "ecosystem",
        "in": "query",
        "description": "Only requests answered by this ecosystem's module. Default: all.",
        "schema": {"type": "string", "enum": list(ECOSYSTEMS)},
    },
]

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(insights: Sequence[Insight]) -> dict[str, Any]:
    """The whole document as plain data (encode with any JSON encoder)."""
    row_schemas, components = msgspec.json.schema_components(
        [i.row for i in insights], ref_template="#/components/schemas/{name}"
    )
    components["Error"] = _ERROR
    components["Query"] = {
        "type": "object",
        "description": "The range and project the rows were computed for (defaults filled in).",
        "properties": {
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "project": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "ecosystem": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "all_sources": {"type": "boolean"},
        },
        "required": ["since", "until"],
    }
    paths: dict[str, Any] = {}
    for insight, row_schema in zip(insights, row_schemas, strict=True):
        extra = [
            {
                "name": p.name,
                "in": "query",
                "description": p.describe(),
                "schema": p.schema(),
                "required": p.required,
            }
            for p in insight.params
        ]
        paths[f"/api/{insight.name}"] = {
            "get": {
                "operationId": insight.name,
                "summary": insight.summary,
                "description": (insight.row.__doc__ or "").strip() or insight.summary,
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
                                        "params": {
                                            "type": "object",
                                            "description": "This insight's parameters, defaults filled in.",
                                        },
                                        "rows": {"type": "array", "items": row_schema},
                                    },
                                    "required": ["query", "params", "rows"],
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
