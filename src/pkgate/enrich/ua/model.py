"""The parsed shape of a User-Agent, flat so it maps one-to-one onto store columns.

Every family parser returns this struct; nothing else crosses the package boundary. Strings are
always bounded by `MAX_LEN` because they are slices of the capped input (or capped explicitly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

import msgspec

#: Bump whenever any parse result changes, so stored rows parsed by an older version are redone.
PARSER_VERSION: Final = 4

#: Longest input looked at (and longest `raw` kept); matches the edge's `MAX_UA`.
MAX_LEN: Final = 1024

#: The categories a UA can fall into, from most to least interesting for package statistics.
CATEGORIES: Final = ("installer", "mirror", "browser", "bot", "script", "unknown")


class UserAgent(msgspec.Struct, frozen=True, gc=False):
    """What one User-Agent says about the client; `None` means "not stated".

    `gc=False`: it holds only strings and booleans, so it can never be part of a cycle, and the
    loader creates millions of them.
    """

    category: str
    installer: str | None = None
    installer_version: str | None = None
    subcommand: str | None = None
    implementation: str | None = None
    implementation_version: str | None = None
    python: str | None = None
    system: str | None = None
    system_release: str | None = None
    distro: str | None = None
    distro_version: str | None = None
    distro_id: str | None = None
    libc: str | None = None
    libc_version: str | None = None
    cpu: str | None = None
    openssl_version: str | None = None
    setuptools_version: str | None = None
    rustc_version: str | None = None
    ci: bool | None = None
    ci_provider: str | None = None  # the CI service a client names (npm: `ci/github-actions`)
    solver: str | None = None  # the solver a conda client names (`solver/libmamba`)
    raw: str | None = None


#: A family parser: (whole UA, first token's name, its version, text after the first space).
#: It returns None when the UA is not really its family, and the dispatcher tries further.
Handler: TypeAlias = Callable[[str, str, str, str], "UserAgent | None"]


def unknown(raw: str | None, name: str | None = None, version: str | None = None) -> UserAgent:
    """An unparsed UA: keep the (capped) text so a later parser version can try again."""
    return UserAgent(
        "unknown",
        installer=name,
        installer_version=version,
        raw=None if raw is None else raw[:MAX_LEN],
    )


def clean(value: str | None) -> str | None:
    """Drop the placeholders clients send for "I don't know" (linehaul kept some of them)."""
    if not value or value.lower() in _PLACEHOLDERS:
        return None
    return value


_PLACEHOLDERS: Final = frozenset({"unknown", "none", "null", "(null)", "undefined", "-"})
