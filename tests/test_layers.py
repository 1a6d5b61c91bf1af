"""The layout is the data flow: edge -> events -> enrich -> store -> insights -> report/web/cli.

Each layer may import only the layers it sits on (plus `pkgate.config` and `pkgate.errors`), so
the HTTP front never pulls in DuckDB and the store never depends on the web. Checked on the source.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pkgate"

#: layer -> the pkgate layers it must not import
FORBIDDEN: dict[str, set[str]] = {
    "enrich": {"edge", "store", "insights", "report", "web", "demo", "cli", "server"},
    "events": {"edge", "store", "insights", "report", "web", "demo", "cli", "server"},
    "edge": {"store", "insights", "report", "web", "demo", "cli", "server"},
    "store": {"edge", "insights", "report", "web", "demo", "cli", "server"},
    "insights": {"edge", "report", "web", "demo", "cli", "server"},
    "report": {"edge", "web", "demo", "cli", "server"},
    "web": {"edge", "demo", "cli", "server"},
}


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (SRC / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "pkgate" and len(parts) > 1:
                    found.setdefault(parts[1], set()).add(str(path.relative_to(SRC)))
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_go_one_way(layer: str) -> None:
    used = imports_of(layer)
    wrong = {dep: sorted(files) for dep, files in used.items() if dep in FORBIDDEN[layer]}
    assert wrong == {}


def test_the_scanner_sees_imports() -> None:
    assert {"events", "enrich"} <= set(imports_of("edge"))
    assert "store" in imports_of("insights")
