"""The conda ecosystem: channels at `/conda/<channel>` (see docs/ecosystems.md, docs/routing.md).

`MODULE` is what `pkgate.edge.registry` registers. Each `[upstreams.<name>]` with
`ecosystem = "conda"` is a channel host: channel `<channel>` is at `<url><channel>/`
(`https://conda.anaconda.org/` serves `conda-forge` at `https://conda.anaconda.org/conda-forge/`).
"""

from __future__ import annotations

from pkgate.edge.conda.module import MODULE, CondaModule

__all__ = ["MODULE", "CondaModule"]
