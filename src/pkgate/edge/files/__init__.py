"""Plain files (release binaries, installers, archives) under `/dl/<name>/<version>/<file>`.

`MODULE` is what `pkgate.edge.registry` registers; see `ecosystem.py`.
"""

from __future__ import annotations

from pkgate.edge.files.ecosystem import MODULE, FilesEcosystem

__all__ = ["MODULE", "FilesEcosystem"]
