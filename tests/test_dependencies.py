"""Every third-party module the package imports is a pinned runtime dependency in pyproject.toml.

A clean CI machine installs only what pyproject.toml declares, so an import that works here only
because a test or bench extra (or a helper's manual install) brought the package would break users.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "pkgate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"pkgate", "__future__"}


def test_runtime_imports_are_pinned_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {}
    for line in project["dependencies"]:
        req = Requirement(line)
        declared[canonicalize_name(req.name)] = req
    dists = packages_distributions()
    missing = []
    for module in sorted(imported_top_level_modules()):
        names = {canonicalize_name(d) for d in dists.get(module, [module])}
        if not names & set(declared):
            missing.append(f"{module} (from {', '.join(sorted(names))})")
    assert missing == []
    unpinned = [str(r) for r in declared.values() if not any(s.operator == "==" for s in r.specifier)]
    assert unpinned == []
