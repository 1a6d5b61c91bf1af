"""Project names and distribution filenames, parsed the way installers read them.

Events record `(project, version)` for every file request, so a filename that packaging rejects
(pre-PEP 440 versions, legacy `.tar.bz2`/`.egg`/`.exe` uploads still on PyPI) is parsed best-effort
rather than dropped; only a hopeless name yields None. Nothing here raises on bad input.

`parse_filename` expects a distribution filename: a caller serving `<file>.metadata` (PEP 658)
strips the suffix first, so this module never has to guess whether `.metadata` is part of a name.
"""

from __future__ import annotations

import re
from typing import Final

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

__all__ = ["is_valid_project_name", "normalize", "parse_filename"]

MAX_NAME_LENGTH: Final = 200
_MAX_FILENAME_LENGTH: Final = 512

# PEP 508 names; explicit ASCII classes (IGNORECASE would let U+212A KELVIN SIGN match "k").
_NAME_RE: Final = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")
# A legacy version: starts with a digit, no separators that could not appear in a filename part.
_LEGACY_VERSION_RE: Final = re.compile(r"[0-9][A-Za-z0-9._+!-]*")
# Suffixes packaging does not know; their stems are `name-version`, best-effort.
_LEGACY_ARCHIVES: Final = (".tar.bz2", ".tar.xz", ".tar.z", ".tbz", ".tgz", ".tar")
# bdist_wininst/bdist_msi: `name-version.win32[-py2.7].exe`, `name-version.win-amd64-py3.4.msi`.
_INSTALLER_RE: Final = re.compile(
    r"(?P<stem>.+?)\.(?:win32|win-amd64|win-arm64|win-ia64|linux-[A-Za-z0-9_]+|macosx-[A-Za-z0-9_.-]+?)"
    r"(?:-py[0-9]+\.[0-9]+)?"
)


def normalize(name: str) -> str:
    """PEP 503 normalised form (lowercase, runs of `-_.` become one `-`)."""
    return str(canonicalize_name(name))


def is_valid_project_name(name: str) -> bool:
    """True for a PEP 508 project name of at most MAX_NAME_LENGTH characters."""
    return 0 < len(name) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(name) is not None


def _version_text(version: str) -> str:
    """PEP 440 normal form when the version is valid, else the text as uploaded."""
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def _split_legacy(stem: str) -> tuple[str, str] | None:
    """`name-version` split at the last '-' followed by a digit (setuptools' own convention)."""
    for i in range(len(stem) - 2, 0, -1):
        if stem[i] == "-" and stem[i + 1].isdigit():
            name, version = stem[:i], stem[i + 1 :]
            if is_valid_project_name(name) and _LEGACY_VERSION_RE.fullmatch(version):
                return normalize(name), _version_text(version)
    return None


def _parse_wheel(filename: str) -> tuple[str, str] | None:
    try:
        name, version, _build, _tags = parse_wheel_filename(filename)
    except ValueError:
        parts = filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6) or not is_valid_project_name(parts[0]):
            return None
        if not _LEGACY_VERSION_RE.fullmatch(parts[1]):
            return None
        return normalize(parts[0]), _version_text(parts[1])
    return (str(name), str(version)) if is_valid_project_name(name) else None


def _parse_sdist(filename: str) -> tuple[str, str] | None:
    try:
        name, version = parse_sdist_filename(filename)
    except ValueError:
        stem = filename[: -len(".zip")] if filename.lower().endswith(".zip") else filename[: -len(".tar.gz")]
        return _split_legacy(stem)
    return (str(name), str(version)) if is_valid_project_name(name) else None


def _parse_egg(stem: str) -> tuple[str, str] | None:
    # `name-version[-pyX.Y[-platform]]`; setuptools writes '-' inside parts as '_'.
    parts = stem.split("-")
    if len(parts) < 2 or not is_valid_project_name(parts[0]):
        return None
    if not _LEGACY_VERSION_RE.fullmatch(parts[1]):
        return None
    return normalize(parts[0]), _version_text(parts[1].replace("_", "-"))


def parse_filename(filename: str) -> tuple[str, str] | None:
    """(normalised project, version) of a wheel, sdist or legacy upload; None if it cannot be read.

    Versions are PEP 440-normalised when valid, else kept as written.
    """
    if not filename or len(filename) > _MAX_FILENAME_LENGTH or "/" in filename or "\\" in filename:
        return None
    lower = filename.lower()
    try:
        if lower.endswith(".whl"):
            return _parse_wheel(filename)
        if lower.endswith((".tar.gz", ".zip")):
            return _parse_sdist(filename)
        if lower.endswith(".egg"):
            return _parse_egg(filename[: -len(".egg")])
        for suffix in _LEGACY_ARCHIVES:
            if lower.endswith(suffix):
                return _split_legacy(filename[: -len(suffix)])
        if lower.endswith((".exe", ".msi")):
            match = _INSTALLER_RE.fullmatch(filename[:-4])
            return _split_legacy(match["stem"] if match else filename[:-4])
    except ValueError:  # packaging's Invalid* errors all derive from ValueError
        return None
    return None
