"""The demo's generated sample wheels are real ones: the demo's index reads them, and uv installs
them (resolving demo-app's requirement on demo-lib) from a plain directory, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pkgate.demo.run import requires_of
from pkgate.demo.sample import SAMPLES, Sample, write_sample_wheels
from pkgate.demo.upstream import read_dists

UV = Path(sys.executable).with_name("uv")


def test_the_demo_index_reads_every_sample(tmp_path: Path) -> None:
    dists = read_dists(write_sample_wheels(tmp_path / "wheels"))
    assert sorted((d.project, d.version) for d in dists) == sorted(
        (s.name, v) for s in SAMPLES for v in s.versions
    )
    app = next(d for d in dists if d.project == "demo-app" and d.version == "1.0.0")
    assert app.metadata is not None
    assert b"Requires-Dist: demo-lib>=1.1\n" in app.metadata


def test_the_demo_reads_what_each_sample_requires(tmp_path: Path) -> None:
    """What the simulated resolvers fetch after a project (`plan(requires=...)`): from METADATA,
    normalised, markers that do not hold and extras left out."""
    extra = Sample(
        "demo-extras", ("1.0",), ("Demo_Lib", "demo-utils; extra == 'cli'", "demo-cli; python_version < '3'")
    )
    dists = read_dists(write_sample_wheels(tmp_path / "wheels", (*SAMPLES, extra)))
    assert requires_of(dists) == {
        "demo-app": ["demo-lib"],
        "demo-cli": [],
        "demo-lib": [],
        "demo-plugins": ["demo-lib"],
        "demo-utils": [],
        "demo-extras": ["demo-lib"],
    }


def test_uv_installs_the_samples(tmp_path: Path) -> None:
    wheels = write_sample_wheels(tmp_path / "wheels")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(UV_NO_CONFIG="1", UV_NO_CACHE="1", UV_PYTHON_DOWNLOADS="never")
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], env=env, check=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [str(UV), "pip", "install", "--python", str(python), "--no-index", "--find-links", str(wheels), "demo-app"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    probe = "import demo_app, demo_lib; print(demo_app.__version__, demo_lib.__version__)"
    got = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    assert got.stdout.split() == ["1.0.0", "2.0.0"]
