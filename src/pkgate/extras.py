"""The optional parts of pkgate and the extras that install them.

A bare `pip install pkgate` is the gateway, its store and reports. Fleet mode, the ASN database and
the dashboard need more packages; using one without them is a `ConfigError` naming the extra to
install, not a `ModuleNotFoundError` from deep inside an import.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from pkgate.errors import ConfigError

__all__ = ["EXTRAS", "require"]

#: extra -> the top-level modules it installs (pyproject.toml's [project.optional-dependencies])
EXTRAS: Final[dict[str, tuple[str, ...]]] = {
    "fleet": ("nats",),
    "asn": ("maxminddb",),
    "dashboard": ("starlette", "uvicorn"),
    "public": ("opendp",),
}


def require(extra: str, feature: str) -> None:
    """Raise ConfigError saying how to install `extra` when any of its modules is missing."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"{feature} needs pkgate's optional `{extra}` part ({', '.join(missing)} is not installed): "
            f"pip install 'pkgate[{extra}]'"
        )
