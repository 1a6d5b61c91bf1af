"""Paths on the config: the read-side commands find the store without loading the gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pkgate import config


def test_paths_live_under_data_dir(tmp_path: Path) -> None:
    p = tmp_path / "pkgate.toml"
    p.write_text(f'[storage]\ndata_dir = "{tmp_path / "d"}"\n')
    paths = config.load(p, env={}).paths
    root = tmp_path / "d"
    assert paths.root == root
    assert paths.store == root / "pkgate.duckdb"
    assert paths.spool == root / "spool"
    assert paths.keys == root / "keys"
    assert paths.secret == root / "secret"
    assert paths.lock == root / "lock"
    assert paths.metrics == root / "metrics"
    assert paths.active_config == root / "run" / "pkgate.toml"


#: Runs the read-side commands in one fresh interpreter, then lists which heavy modules got loaded.
_PROBE = r"""
import json, sys
import pkgate.web.serve
pkgate.web.serve.serve_forever = lambda *a, **k: None  # the dashboard would block serving forever
from pkgate.cli import app
done = {}
for args in (
    ["report", "downloads"],
    ["report", "downloads", "--project", "Some_Project"],
    ["export", "--format", "csv", "--output", sys.argv[1] + "/out.csv"],
    ["events"],
    ["erase", "abcdef01"],
    ["dashboard", "--token", "t" * 20],
):
    try:
        app(args, standalone_mode=False)
        done[args[0]] = 0
    except SystemExit as exc:
        done[args[0]] = exc.code
loaded = sorted(m for m in ("pkgate.server", "pkgate.edge", "httpx") if m in sys.modules)
print(json.dumps({"done": done, "loaded": loaded}))
"""


def test_read_side_commands_do_not_load_the_gateway(tmp_path: Path) -> None:
    from pkgate.store import connect
    from pkgate.store.layout import ensure_schema

    data = tmp_path / "data"
    con = connect(data / "pkgate.duckdb")
    ensure_schema(con)
    con.close()
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path)],
        env={"PKGATE_STORAGE_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["done"] == {"report": 0, "export": 0, "events": 0, "erase": 0, "dashboard": 0}, out.stderr
    assert result["loaded"] == []
    assert (tmp_path / "out.csv").exists()
