"""The registered ecosystem modules, and the set of ecosystems one config builds.

Adding an ecosystem is one line in `MODULES` (see docs/ecosystems.md). Ecosystems never import
each other; this module is the only place that knows them all.
"""

from __future__ import annotations

from typing import Final

from pkgate.edge import conda, files, npm, oci, python
from pkgate.edge.ecosystem import Build, Ecosystem, Module
from pkgate.errors import ConfigError

__all__ = ["MODULES", "RESERVED", "Ecosystems", "build"]

#: Every ecosystem module, in registration order.
MODULES: Final[tuple[Module, ...]] = (python.MODULE, npm.MODULE, files.MODULE, oci.MODULE, conda.MODULE)
#: Paths the gateway answers itself, before any ecosystem (a prefix `/` is a catch-all below them).
RESERVED: Final = ("/healthz", "/metrics", "/admin/")


class Ecosystems:
    """The built ecosystems and their path claims; `find(path)` is the dispatch."""

    def __init__(self, ecosystems: list[Ecosystem]) -> None:
        self.all = tuple(ecosystems)
        self.by_name = {eco.name: eco for eco in ecosystems}
        self._exact: dict[str, Ecosystem] = {}
        prefixes: dict[str, Ecosystem] = {}
        for eco in ecosystems:
            for path in eco.paths.exact:
                _check(eco, path)
                _claim(self._exact, path, eco)
            for prefix in eco.paths.prefixes:
                _check(eco, prefix)
                _claim(prefixes, prefix, eco)
        # Longest first: the most specific claim wins.
        self._prefixes = sorted(prefixes.items(), key=lambda item: len(item[0]), reverse=True)

    def find(self, path: str) -> Ecosystem | None:
        eco = self._exact.get(path)
        if eco is not None:
            return eco
        for prefix, eco in self._prefixes:
            if path.startswith(prefix):
                return eco
        return None

    def __getitem__(self, name: str) -> Ecosystem:
        return self.by_name[name]


def _check(eco: Ecosystem, path: str) -> None:
    if not path.startswith("/"):
        raise ConfigError(f"ecosystem {eco.name}: path {path!r} must start with '/'")
    if any(path.startswith(r) for r in RESERVED):
        raise ConfigError(f"ecosystem {eco.name}: path {path!r} is the gateway's own")


def _claim(claims: dict[str, Ecosystem], path: str, eco: Ecosystem) -> None:
    other = claims.get(path)
    if other is not None and other is not eco:
        raise ConfigError(f"ecosystems {other.name} and {eco.name} both claim the path {path!r}")
    claims[path] = eco


def build(spec: Build, previous: Ecosystems | None = None) -> Ecosystems:
    """Every registered ecosystem for `spec.cfg`; raises ConfigError, leaving `previous` in use."""
    built = []
    for module in MODULES:
        old = previous.by_name.get(module.name) if previous is not None else None
        built.append(module.build(spec, old))
    return Ecosystems(built)
