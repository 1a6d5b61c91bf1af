"""A store with resolver sessions and their Requires-Dist, for the dashboard's dependency panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import msgspec

from pkgate.enrich.metadata import Fetched
from pkgate.events import Event
from pkgate.store import connect, ensure_schema, insert_events
from pkgate.store.deps import record_requires
from tests.web.conftest import _ev

VERSIONS: Final = {"requests-toolbelt": "1.0.0", "requests": "2.32.3", "urllib3": "2.2.2", "six": "1.16.0"}
#: Their Requires-Dist (only what matters here).
REQUIRES: Final = {"requests-toolbelt": ("requests",), "requests": ("certifi", "idna", "urllib3")}
#: The resolver sessions of 2026-04-01 (`name?`: asked for, not served: `index-miss`). By hand
#: (people only): requests-toolbelt pulls in requests (1) and, through it, urllib3 (1); requests
#: pulls in urllib3 in two other sessions (2); the CI runner's session (a cloud CI address) pulls
#: urllib3 in by requests a third time, left out by default. 16 (project, name) pairs are
#: installed alongside.
SESSIONS: Final[tuple[tuple[str, int, list[str], dict[str, Any]], ...]] = (
    ("aaaa01", 10, ["requests-toolbelt", "requests", "urllib3", "idna?", "certifi?"], {}),
    ("bbbb01", 11, ["requests", "urllib3"], {}),
    ("bbbb02", 12, ["requests", "urllib3", "six"], {}),
    ("cccc01", 13, ["requests", "urllib3"], {"cloud": "github-actions"}),
    ("aaaa02", 14, ["six"], {}),
)


def session(source: str, hour: int, names: list[str], **kw: Any) -> list[Event]:
    """One resolver session on 2026-04-01 at `hour`: `names` a second apart, by one source with
    pip's User-Agent."""
    out = []
    for i, name in enumerate(names):
        project, missing = name.rstrip("?"), name.endswith("?")
        e = _ev(30, hour, "index-miss" if missing else "file", 404 if missing else 302, project,
                None if missing else VERSIONS[project], source)  # fmt: skip
        out.append(msgspec.structs.replace(e, ts_us=e.ts_us + i * 1_000_000, **kw))
    return out


def deps_store(path: Path) -> Path:
    con = connect(path)
    try:
        ensure_schema(con)
        insert_events(con, [e for src, hour, names, kw in SESSIONS for e in session(src, hour, names, **kw)])
        record_requires(
            con, [(p, v, f"{p}-{v}.whl", Fetched("ok", REQUIRES.get(p, ()))) for p, v in VERSIONS.items()]
        )
    finally:
        con.close()
    return path
