"""Where the dashboard's files come from: our own (in the package) and Chart.js (from npm, never vendored).

An installed wheel carries Chart.js as package data in `pkgate/web/vendor/`: the build hook
(setup.py) runs `npm ci` from package-lock.json when the wheel is built. A checkout (an editable
install) has no such copy and serves the one `npm ci` put into `node_modules/` next to `package.json`
(scripts/setup runs it). Either way the repository holds no copy of it and nothing is fetched at run
time. `PKGATE_NODE_MODULES` points elsewhere (e.g. a build output directory in a container).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from pkgate.errors import ConfigError

__all__ = ["CHART_JS", "DASHBOARD_DIR", "VENDOR_DIR", "find_chart_js"]

DASHBOARD_DIR: Final = Path(__file__).parent / "dashboard"
#: Chart.js as the wheel ships it (written by the build hook, absent in a checkout).
VENDOR_DIR: Final = Path(__file__).parent / "vendor"
#: Path of the Chart.js UMD bundle inside `node_modules`.
CHART_JS: Final = Path("chart.js") / "dist" / "chart.umd.min.js"


def find_chart_js(env: dict[str, str] | None = None) -> Path:
    """The Chart.js bundle to serve; ConfigError saying how to get it when there is none."""
    env = dict(os.environ) if env is None else env
    candidates: list[Path] = []
    if env.get("PKGATE_NODE_MODULES"):
        candidates.append(Path(env["PKGATE_NODE_MODULES"]) / CHART_JS)
    candidates.append(VENDOR_DIR / CHART_JS.name)
    here = Path(__file__).resolve()
    candidates += [p / "node_modules" / CHART_JS for p in here.parents]
    candidates.append(Path.cwd() / "node_modules" / CHART_JS)
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "the dashboard needs Chart.js: install pkgate from a wheel (it ships it), or run `npm ci` in "
        "the pkgate source tree (scripts/setup does), or set PKGATE_NODE_MODULES to a node_modules "
        "directory that has chart.js"
    )
