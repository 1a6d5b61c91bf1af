"""The link-signing key: `gateway.secret`, or generated once per data_dir (0600) and reused.

`pkgate serve` creates it before starting workers; a worker that finds none creates it the same
way (first writer wins, published whole: a worker starting at the same time never reads an empty
key). Every gateway of a fleet needs the same key, so fleets set `gateway.secret`.
"""

from __future__ import annotations

import secrets

from pkgate.config import Config
from pkgate.errors import ConfigError
from pkgate.fsutil import create_once

__all__ = ["load_retired", "load_secret"]


def load_secret(cfg: Config) -> bytes:
    if cfg.gateway.secret:
        if len(cfg.gateway.secret) < 16:
            raise ConfigError("gateway.secret: must be at least 16 characters")
        return cfg.gateway.secret.encode()
    path = cfg.paths.secret
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    return create_once(path, secrets.token_urlsafe(32).encode()).strip()


def load_retired(cfg: Config) -> list[bytes]:
    """`gateway.retired_secrets`: earlier secrets that links in lock files were signed with."""
    return [s.encode() for s in cfg.gateway.retired_secrets if s]
