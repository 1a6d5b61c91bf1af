"""The JSON API and the web dashboard over the store (`pkgate dashboard`)."""

from pkgate.web.app import create_app
from pkgate.web.endpoints import ENDPOINTS, Endpoint
from pkgate.web.openapi import openapi_document
from pkgate.web.params import ParamError, parse_query

__all__ = ["ENDPOINTS", "Endpoint", "ParamError", "create_app", "openapi_document", "parse_query"]
