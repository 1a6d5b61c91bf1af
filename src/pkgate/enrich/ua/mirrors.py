"""Mirrors and repository managers: they fetch on behalf of many users, so reports count them
apart from direct installs. Some say what they run on in a parenthesised comment."""

from __future__ import annotations

import re
from typing import Final

from pkgate.enrich.ua.model import Handler, UserAgent, clean
from pkgate.enrich.ua.tokens import IMPLEMENTATIONS, system_name

#: Lowercase first-token name -> normalised mirror name.
MIRRORS: Final = {
    "bandersnatch": "bandersnatch",
    "devpi-server": "devpi",
    "devpi": "devpi",
    "nexus": "nexus",
    "artifactory": "artifactory",
    "z3c.pypimirror": "z3c.pypimirror",
    "pep381client": "pep381client",
    "pep381client-proxy": "pep381client",
    "proxpi": "proxpi",
    "pypi-mirror": "pypi-mirror",
    "python-pypi-mirror": "pypi-mirror",
    "pulpcore": "pulp",
    "pulp": "pulp",
    "pypiserver": "pypiserver",
    "simpleindex": "simpleindex",
    "localshop": "localshop",
    "pypicloud": "pypicloud",
    "minirepo": "minirepo",
    "bazel-mirror": "bazel-mirror",
}

# bandersnatch: "(CPython 3.7.0-final0, Darwin x86_64)" or "(CPython 2.7.11-final0, Darwin 15.2.0 x86_64)"
_BANDERSNATCH: Final = re.compile(r"\((\w+) ([\w.]+?)(?:-\w+)?, (\S+)(?: (\S+))? (\S+)\)")
# devpi-server: "(py3.7.0; darwin)"
_DEVPI: Final = re.compile(r"\(py([\w.]+); (\w+)\)")
# Nexus: "(OSS; Linux; 4.4.0-62-generic; amd64; 1.8.0_144)"
_NEXUS: Final = re.compile(r"\((\w+); ([^;)]+); ([^;)]+); ([^;)]+)")


def _mirror(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    canon = MIRRORS[name.lower()]
    version = clean(version) or ""
    if canon == "bandersnatch" and (m := _BANDERSNATCH.search(rest)) is not None:
        impl = IMPLEMENTATIONS.get(m[1].lower(), m[1])
        return UserAgent(
            "mirror",
            canon,
            version or None,
            implementation=impl,
            implementation_version=m[2],
            python=m[2] if impl == "CPython" else None,
            system=system_name(m[3]),
            system_release=m[4],
            cpu=m[5],
        )
    if canon == "devpi" and (m := _DEVPI.search(rest)) is not None:
        return UserAgent("mirror", canon, version or None, python=m[1], system=system_name(m[2]))
    if canon == "nexus" and (m := _NEXUS.search(rest)) is not None:
        return UserAgent(
            "mirror",
            canon,
            version or None,
            system=system_name(m[2]),
            system_release=clean(m[3]),
            cpu=clean(m[4]),
        )
    return UserAgent("mirror", canon, version or None)


HANDLERS: Final[dict[str, Handler]] = dict.fromkeys(MIRRORS, _mirror)
