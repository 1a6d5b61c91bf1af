"""One definition of a download: the store's SQL (`aggregates.DOWNLOAD`) and the Python predicate
(`events.model.is_download`, used by the HLL marks and the behaviour classifier) agree."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.events.model import KINDS, is_download
from pkgate.store.aggregates import DOWNLOAD

kinds = st.sampled_from([*KINDS, "manifest", "blob"])
methods = st.sampled_from(["GET", "HEAD", "POST"])
statuses = st.sampled_from([200, 206, 301, 302, 304, 307, 308, 400, 404, 500, 502, 503])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(kinds, methods, statuses, st.booleans()), min_size=1, max_size=30))
def test_sql_and_python_agree(rows: list[tuple[str, str, int, bool]]) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE events (kind VARCHAR, method VARCHAR, status SMALLINT, partial BOOLEAN)")
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    got = [r[0] for r in con.execute(f"SELECT {DOWNLOAD} FROM events").fetchall()]  # noqa: S608
    con.close()
    assert got == [is_download(*r) for r in rows]


def test_the_cases_by_hand() -> None:
    assert is_download("file", "GET", 302)  # the gateway's redirect
    assert is_download("file", "GET", 200)  # streamed from a proxied upstream
    assert not is_download("file", "GET", 302, partial=True)  # a lazy-wheel range read
    assert not is_download("file", "HEAD", 302)
    assert not is_download("file", "GET", 404)
    assert not is_download("metadata", "GET", 302)
    assert is_download("manifest", "GET", 200)  # an image pull
    assert not is_download("manifest", "HEAD", 200)  # a check
    assert not is_download("blob", "GET", 307)  # a layer fetch
