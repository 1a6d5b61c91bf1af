"""The Python ecosystem: PEP 503/691 simple index pages and signed links to their files.

`MODULE` is what `pkgate.edge.registry` registers. Paths: `/simple/` (index-root),
`/simple/<project>/` (index-project), `/files/<project>/<token>/<file>` (file, or metadata for
`<file>.metadata`), and `/` (a redirect to `/simple/`).
"""

from __future__ import annotations

from pkgate.edge.python.ecosystem import MODULE, PythonEcosystem

__all__ = ["MODULE", "PythonEcosystem"]
