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


# ---- the rules of issue #10.3 ------------------------------------------------------------------


SERVER = sorted((SRC / "server").glob("*.py"))  # the supervisor process (`pkgate serve`)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def test_server_imports_no_worker_assembly() -> None:
    """The supervisor needs the published config, the secret and the client-IP check, not the
    worker's app (granian imports that in the workers) nor its path helpers: paths are on the Config."""
    used = set().union(*(edge_imports(path) for path in SERVER))
    assert used <= {"published", "secret", "clientip"}, used
    assert "published" in used  # the scanner sees the server's imports


def test_page_cache_is_not_the_http_client() -> None:
    """Upstream HTTP goes through client.UpstreamClient; caches and proxy never reach into
    another object's client (the old `up.cache.client`)."""
    assert "httpx" not in {
        n.names[0].name.split(".")[0]
        for n in ast.walk(_tree(EDGE / "upstream.py"))
        if isinstance(n, ast.Import)
    }
    chains = []
    for path in EDGE.rglob("*.py"):
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("client", "http")
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "cache"
            ):
                chains.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert chains == []


def test_the_demo_clock_is_injected_not_configured() -> None:
    """Production code has no demo clock: no config key, no header name in the edge or server;
    the gateway only has a generic `clock` hook that `pkgate demo` fills in."""
    from pkgate.config import Gateway

    assert not [f for f in Gateway.__struct_fields__ if "demo" in f]
    for path in [*EDGE.rglob("*.py"), *SERVER, *(SRC / "config").rglob("*.py")]:
        assert "x-pkgate-demo-time" not in path.read_text().lower(), path
    assert "clock" in (SRC / "demo" / "gateway.py").read_text()


def test_consumers_are_used_through_their_protocol() -> None:
    """The server must not branch on the spool consumer's type (it has a Consumer protocol)."""
    consumers = {"Loader", "Forwarder", "StoreConsumer", "FleetConsumer"}
    calls = [
        f"{path.name}:{node.lineno}"
        for path in SERVER
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and consumers & {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
    ]
    assert calls == []
    assert "class Consumer(Protocol)" in (SRC / "server" / "consume.py").read_text()


def _wide_tuples(source: str, where: str) -> list[str]:
    """Annotations (and aliases) naming `tuple[a, b, c, ...]` with three or more parts."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "tuple"
            and isinstance(node.slice, ast.Tuple)
            and len(node.slice.elts) >= 3
            and not any(isinstance(e, ast.Constant) and e.value is Ellipsis for e in node.slice.elts)
        ):
            found.append(f"{where}:{node.lineno}")
    return found


def test_the_wide_tuple_scanner_sees_one() -> None:
    assert _wide_tuples("def f() -> tuple[int, str, bytes]: ...", "x") == ["x:1"]
    assert _wide_tuples("A = tuple[int, str]\nB = tuple[int, ...]", "x") == []


def test_interfaces_are_named_types_not_wide_tuples() -> None:
    """Responses, upstream answers, facts: NamedTuples or Structs, so fields have names."""
    files = [*EDGE.rglob("*.py"), *(SRC / "demo").rglob("*.py"), *SERVER, SRC / "enrich" / "geo.py"]
    wide = [hit for path in files for hit in _wide_tuples(path.read_text(), str(path.relative_to(SRC)))]
    assert wide == []
