"""The config the workers of `pkgate serve` run: published as a file, with a generation number.

Under `pkgate serve` several worker processes must switch together, so a validated config is
*published*: its text is written (0600, atomically) to `<data_dir>/run/pkgate.toml` with a
generation number in its first line. Workers follow that file (`reloader.py`); workers that granian
starts later read the same file. SIGHUP to the main process and `POST /admin/reload` on any worker
both publish. A published config may not change the keys only a restart can apply.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Final

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.errors import ConfigError
from pkgate.fsutil import atomic_write

__all__ = [
    "ACTIVE_ENV",
    "check_reloadable",
    "generation_of",
    "publish",
    "read_generation",
    "read_published",
    "read_source",
]

#: Environment variable naming the published config file (set by `pkgate serve` for its workers).
ACTIVE_ENV: Final = "PKGATE_ACTIVE_CONFIG"
_HEADER: Final = "# pkgate-generation "
#: Keys a reload cannot change in a running process (they need a restart).
_FIXED: Final = (
    "server",
    "storage",
    "privacy",
    "fleet",
    "gateway.id",
    "gateway.secret",
)


def check_reloadable(old: Config, new: Config) -> None:
    """Refuse a reload that changes keys only a restart can apply.

    Applying the rest would split the fleet: workers granian starts later read the published file
    and would use, say, a new `gateway.secret` while the others keep the old one.
    """
    changed = []
    for key in _FIXED:
        section, _, field = key.partition(".")
        a, b = getattr(old, section), getattr(new, section)
        if field:
            a, b = getattr(a, field), getattr(b, field)
        if a != b:
            changed.append(key)
    if changed:
        raise ConfigError(f"{', '.join(changed)}: cannot change while running; restart pkgate serve instead")


def generation_of(text: str) -> int:
    """The generation in a published config's first line; 0 if absent."""
    if text.startswith(_HEADER):
        with contextlib.suppress(ValueError, IndexError):
            return int(text[len(_HEADER) :].split(maxsplit=1)[0])
    return 0


def read_generation(path: Path) -> int:
    try:
        with path.open(encoding="utf-8") as fh:
            return generation_of(fh.readline())
    except (OSError, UnicodeDecodeError):
        return 0


def read_published(path: Path) -> tuple[Config, int]:
    """The published config and its generation, from one read (a newer file may replace it)."""
    text = config_mod.read_text(path)
    return config_mod.parse(text, str(path)), generation_of(text)


def publish(active: Path, text: str, source: str) -> int:
    """Write a validated config as the next generation (0600, atomic); its generation number."""
    active.parent.mkdir(parents=True, exist_ok=True)
    with open(active.with_suffix(".lock"), "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        generation = read_generation(active) + 1
        atomic_write(active, f"{_HEADER}{generation} source {source}\n{text}".encode())
    return generation


def read_source(path: str | None) -> str:
    """The text of the config file to publish ("" for the defaults)."""
    if path is None:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
