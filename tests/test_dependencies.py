"""Every third-party module the package imports is declared in pyproject.toml, as a runtime
dependency or in one of the optional parts' extras; ranges, not pins; and the optional parts are
really optional: without their packages the rest works and using them names the extra.

A clean CI machine installs only what pyproject.toml declares, so an import that works here only
because a test or bench extra (or a helper's manual install) brought the package would break users.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pkgate.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
PROJECT: Final[dict[str, Any]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: extras for developers, never needed by an installed pkgate
DEV_EXTRAS: Final = {"test", "bench", "all"}


def imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "pkgate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"pkgate", "__future__"}


def requirements(lines: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def distributions_of(module: str) -> set[str]:
    return {canonicalize_name(d) for d in packages_distributions().get(module, [module])}


def test_runtime_imports_are_declared() -> None:
    declared = set(requirements(PROJECT["dependencies"]))
    for extra in EXTRAS:
        declared |= set(requirements(PROJECT["optional-dependencies"][extra]))
    missing = [
        f"{module} (from {', '.join(sorted(distributions_of(module)))})"
        for module in sorted(imported_top_level_modules())
        if not distributions_of(module) & declared
    ]
    assert missing == []


def test_extras_module_matches_pyproject() -> None:
    optional = PROJECT["optional-dependencies"]
    assert set(optional) - DEV_EXTRAS == set(EXTRAS)
    for extra, modules in EXTRAS.items():
        dists = set(requirements(optional[extra]))
        assert {m for m in modules if not distributions_of(m) & dists} == set(), extra
    assert requirements(optional["all"])["pkgate"].extras == set(EXTRAS)


def test_dependencies_are_ranges_not_pins() -> None:
    """Pins would stop pkgate installing beside other packages; uv.lock pins what CI installs."""
    lines = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        lines += extra
    reqs = [r for r in map(Requirement, lines) if r.name != "pkgate"]
    assert [str(r) for r in reqs if any(s.operator in ("==", "===") for s in r.specifier)] == []
    assert [str(r) for r in reqs if not any(s.operator == ">=" for s in r.specifier)] == []


def test_lock_file_covers_every_declared_package() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {canonicalize_name(p["name"]) for p in lock["package"]}
    lines = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        lines += extra
    assert set(requirements(lines)) - locked == set()


# Run in a fresh interpreter where the optional parts' modules cannot be imported (a `None` in
# sys.modules makes `import` fail and find_spec answer None, as on a machine without them).
_WITHOUT_EXTRAS = """
import sys
for name in {modules!r}:
    sys.modules[name] = None
from pathlib import Path
import pkgate.cli, pkgate.server.supervisor, pkgate.store, pkgate.report, pkgate.insights, pkgate.edge.app, pkgate.demo.run
from pkgate.config import Config, Fleet
from pkgate.enrich.geo import GeoLookup
from pkgate.errors import ConfigError
from pkgate.server.consume import spool_consumer
out = []
for attempt in (
    lambda: spool_consumer(Config(fleet=Fleet(nats_url="nats://127.0.0.1:1"))),
    lambda: GeoLookup(asn_db=Path("asn.mmdb")),
):
    try:
        attempt()
        out.append("no error")
    except ConfigError as exc:
        out.append(str(exc))
print("\\n".join(out))
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_core_works_without_the_optional_parts() -> None:
    modules = [m for ms in EXTRAS.values() for m in ms]
    done = _python(_WITHOUT_EXTRAS.format(modules=modules))
    assert done.returncode == 0, done.stderr
    fleet, asn = done.stdout.splitlines()
    assert fleet.startswith("fleet.nats_url (fleet mode) needs pkgate's optional `fleet` part")
    assert fleet.endswith("pip install 'pkgate[fleet]'")
    assert asn.startswith("privacy.asn_db needs pkgate's optional `asn` part")


def test_cli_names_the_missing_extra() -> None:
    block = "import sys\nfor m in ('starlette', 'uvicorn'):\n    sys.modules[m] = None\n"
    run_cli = block + "sys.argv[0] = 'pkgate'\nfrom pkgate.cli import main\nmain()\n"
    dash = _python(run_cli, "dashboard", "--token", "t" * 24)
    assert dash.returncode == 2
    assert "`pkgate dashboard` needs pkgate's optional `dashboard` part" in dash.stderr
    assert "pip install 'pkgate[dashboard]'" in dash.stderr
    assert "Traceback" not in dash.stderr
    demo = _python(run_cli, "demo", "--wheels", "/nonexistent")
    assert demo.returncode == 2
    assert "pip install 'pkgate[dashboard]'" in demo.stderr
    helps = _python(run_cli, "--help")
    assert helps.returncode == 0, helps.stderr
