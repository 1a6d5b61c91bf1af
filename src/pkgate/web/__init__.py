"""The JSON API and the web dashboard over the store (`pkgate dashboard`).

Names are imported on first use, so `pkgate --help` does not pay for starlette and DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pkgate.web.app import create_app
    from pkgate.web.openapi import openapi_document

__all__ = ["create_app", "openapi_document"]

_HOME = {"create_app": "app", "openapi_document": "openapi"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"pkgate.web.{_HOME[name]}"), name)
    raise AttributeError(f"module 'pkgate.web' has no attribute {name!r}")
