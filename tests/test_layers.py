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
    # Access-log ingest makes events like the edge (and so may use its names and client-IP rules)
    # and inserts them through the store's loader path; it never reaches up to reports.
    "ingest": {"insights", "report", "web", "demo", "cli", "server"},
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


# ---- ecosystems (pkgate.edge.<ecosystem>/, see docs/ecosystems.md) --------------------------------

EDGE = SRC / "edge"


def ecosystem_packages() -> list[str]:
    return sorted(p.parent.name for p in EDGE.glob("*/__init__.py"))


def edge_imports(path: Path) -> set[str]:
    """The `pkgate.edge.<x>` names a file imports (absolute or relative)."""
    found: set[str] = set()
    rel = path.relative_to(SRC).with_suffix("").parts  # ("edge", "python", "index")
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(("pkgate", *rel[: len(rel) - node.level]))
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            modules = [module] + [f"{module}.{a.name}" for a in node.names]
        for name in modules:
            parts = name.split(".")
            if parts[:2] == ["pkgate", "edge"] and len(parts) > 2:
                found.add(parts[2])
    return found


def test_python_is_an_ecosystem_package() -> None:
    assert "python" in ecosystem_packages()
    assert "python" in edge_imports(EDGE / "registry.py")  # the scanner sees what it must
    assert {"links", "python"} <= edge_imports(EDGE / "python" / "ecosystem.py")


@pytest.mark.parametrize("package", ecosystem_packages())
def test_ecosystems_do_not_import_each_other(package: str) -> None:
    others = set(ecosystem_packages()) - {package}
    wrong = {
        str(path.relative_to(SRC)): sorted(edge_imports(path) & (others | {"registry", "app", "reload"}))
        for path in (EDGE / package).rglob("*.py")
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_shared_edge_modules_do_not_import_an_ecosystem() -> None:
    """Only the registry knows the ecosystems; the shared parts serve all of them alike."""
    ecosystems = set(ecosystem_packages())
    wrong = {
        path.name: sorted(edge_imports(path) & ecosystems)
        for path in EDGE.glob("*.py")
        if path.name != "registry.py"
    }
    assert {k: v for k, v in wrong.items() if v} == {}
