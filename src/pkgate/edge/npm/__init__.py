"""The npm ecosystem: the registry API npm, pnpm, yarn and bun install from, under `/npm/`.

`MODULE` is what `pkgate.edge.registry` registers. See `ecosystem.py` for the paths served and
`packument.py` for what is changed in a registry document (tarball URLs only).
"""

from __future__ import annotations

from pkgate.edge.npm.ecosystem import MODULE, NpmEcosystem

__all__ = ["MODULE", "NpmEcosystem"]
