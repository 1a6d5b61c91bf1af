"""The platform (conda subdir) and solver breakdowns, with the ecosystem filter (answers by hand).

Day 1: conda source p (conda with libmamba) downloads numpy 2.0.0 for linux-64 twice and tzdata
for noarch once, and fetches repodata (no project, not counted); pixi source q downloads numpy
2.0.0 for osx-arm64 once; python source a downloads django (no platform).
-> conda, by platform: linux-64 2 downloads, noarch 1, osx-arm64 1; by solver: libmamba 3, NULL 1.
"""

from __future__ import annotations

import duckdb
import msgspec
import pytest

from pkgate.insights import breakdown
from pkgate.store import ensure_schema, insert_events
from pkgate.store.rollups import refresh_rollups
from tests.insights.data import ALL, D1, at, ev

CONDA = (
    "conda/24.7.1 requests/2.32.3 CPython/3.12.4 Linux/6.5.0 ubuntu/22.04 glibc/2.35"
    " solver/libmamba conda-libmamba-solver/24.7.0 libmambapy/1.5.8"
)
PIXI = "pixi/0.40.0 Darwin/24.1.0 OSX/15.1 rattler/0.28.0"


def conda(
    ts: int, src: str, project: str | None, version: str | None, platform: str, ua: str = CONDA
) -> object:
    kind = "file" if version else "index-root"
    fname = f"{project}-{version}-0.conda" if version else None
    return ev(
        ts,
        src,
        "n9",
        kind,
        302 if version else 200,
        project=project,
        version=version,
        filename=fname,
        path=f"/conda/main/{platform}/{fname or 'repodata.json'}",
        ecosystem="conda",
        platform=platform,
        user_agent=ua,
    )


def store(rolled: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    events = [
        conda(at(D1, 9), "p", None, None, "linux-64"),
        conda(at(D1, 9, 0, 1), "p", "numpy", "2.0.0", "linux-64"),
        conda(at(D1, 9, 5), "p", "numpy", "2.0.0", "linux-64"),
        conda(at(D1, 9, 0, 2), "p", "tzdata", "2024a", "noarch"),
        conda(at(D1, 10), "q", "numpy", "2.0.0", "osx-arm64", PIXI),
        ev(at(D1, 11), "a", "n1", "file", version="4.0.3"),
    ]
    insert_events(con, events)  # type: ignore[arg-type]
    if rolled:
        refresh_rollups(con)
    return con


@pytest.mark.parametrize("rolled", [False, True])
def test_platform_and_solver_of_conda(rolled: bool) -> None:
    con = store(rolled)
    q = msgspec.structs.replace(ALL, ecosystem="conda")
    platforms = {r.value: r.downloads for r in breakdown(con, q, "platform")}
    assert platforms == {"linux-64": 2, "noarch": 1, "osx-arm64": 1}
    solvers = {r.value: r.downloads for r in breakdown(con, q, "solver")}
    assert solvers == {"libmamba": 3, None: 1}
    installers = {r.value: r.sources for r in breakdown(con, q, "installer")}
    assert installers == {"conda": 1, "pixi": 1}
    python = {
        r.value: r.downloads
        for r in breakdown(con, msgspec.structs.replace(ALL, ecosystem="python"), "platform")
    }
    assert python == {None: 1}
