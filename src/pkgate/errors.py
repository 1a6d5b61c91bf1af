"""One exception tree for pkgate: callers catch `PkgateError` and get a message fit for a user."""

from __future__ import annotations


class PkgateError(Exception):
    """Base of every error pkgate raises on purpose; `str()` is a complete, user-facing message."""


class ConfigError(PkgateError):
    """A configuration value is missing, malformed or out of range.

    Carries where it came from: `origin` (the config file, or `environment PKGATE_...` for an
    override), `line` (TOML syntax errors) and `key` (`server.port`), so that `str()` reads
    `file:line: key: message` and callers never paste file names in front of messages themselves.
    Errors raised far from the file (a preflight check, a worker) start without an origin; the
    command that knows the file adds it with `located`.
    """

    def __init__(self, message: str, *, key: str = "", origin: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.origin = origin
        self.line = line

    def __str__(self) -> str:
        where = f"{self.origin}:{self.line}" if self.origin and self.line else self.origin
        return ": ".join(part for part in (where, self.key, self.message) if part)

    def __reduce__(self) -> tuple[object, ...]:  # keyword fields survive pickling (worker processes)
        return (_config_error, (self.message, self.key, self.origin, self.line))

    def located(self, origin: str) -> ConfigError:
        """This error with `origin` filled in, unless it already names one."""
        if not self.origin:
            self.origin = origin
        return self


def _config_error(message: str, key: str, origin: str, line: int) -> ConfigError:
    return ConfigError(message, key=key, origin=origin, line=line)


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


class StartupError(PkgateError):
    """`pkgate serve` cannot start: the machine refuses something a setting asks for (a port in use,
    an unwritable data directory...). `str()` is `<cause> (<setting>)`: what to fix and where."""

    def __init__(self, cause: str, setting: str) -> None:
        super().__init__(f"{cause} ({setting})")
        self.cause = cause
        self.setting = setting

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.cause, self.setting))
