"""Where the dashboard's files come from: our own (in the package) and Chart.js (from npm, never vendored).

Chart.js is installed by `npm ci` into `node_modules/` next to `package.json` (the repository root) at
setup time; the dashboard serves the file from there, so it works offline and the repository holds no
copy of it. `PKGATE_NODE_MODULES` points elsewhere (e.g. a build output directory in a container).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from pkgate.errors import ConfigError

__all__ = ["CHART_JS", "DASHBOARD_DIR", "find_chart_js"]

DASHBOARD_DIR: Final = Path(__file__).parent / "dashboard"
#: Path of the Chart.js UMD bundle inside `node_modules`.
CHART_JS: Final = Path("chart.js") / "dist" / "chart.umd.min.js"


def find_chart_js(env: dict[str, str] | None = None) -> Path:
    """The installed Chart.js bundle; ConfigError saying how to install it when it is missing."""
    env = dict(os.environ) if env is None else env
    candidates: list[Path] = []
    if env.get("PKGATE_NODE_MODULES"):
        candidates.append(Path(env["PKGATE_NODE_MODULES"]))
    here = Path(__file__).resolve()
    candidates += [p / "node_modules" for p in here.parents]
    candidates.append(Path.cwd() / "node_modules")
    for directory in candidates:
        path = directory / CHART_JS
        if path.is_file():
            return path
    raise ConfigError(
        "the dashboard needs Chart.js: run `npm ci` in the pkgate source tree (scripts/setup does), "
        "or set PKGATE_NODE_MODULES to a node_modules directory that has chart.js"
    )
