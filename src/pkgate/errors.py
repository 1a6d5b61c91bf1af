"""One exception tree for pkgate: callers catch `PkgateError` and get a message fit for a user."""

from __future__ import annotations


class PkgateError(Exception):
    """Base of every error pkgate raises on purpose; `str()` is a complete, user-facing message."""


class ConfigError(PkgateError):
    """A configuration value is missing, malformed or out of range; the message names the key."""


class UpstreamError(PkgateError):
    """An upstream index failed (network, timeout, 5xx, unparseable page)."""


class UpstreamNotFound(UpstreamError):
    """The upstream answered 404 for a project: a real 'no such project'."""


class PageError(UpstreamError):
    """An upstream page could not be parsed (bad HTML/JSON, bad URL, control characters)."""


class LinkError(PkgateError):
    """A gateway file link is malformed or its signature does not verify."""


class SpoolError(PkgateError):
    """The on-disk event spool cannot be written or read."""


class StoreError(PkgateError):
    """The DuckDB store cannot be opened or queried."""


class FleetError(PkgateError):
    """NATS is unreachable or refused a publish or fetch; the spool (or stream) keeps the events."""


class IngestError(PkgateError):
    """An access log cannot be read (missing file, unknown format, a bad line under --strict)."""
