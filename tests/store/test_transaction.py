"""transaction(): the block's writes land together or not at all."""

from __future__ import annotations

import duckdb
import pytest

from pkgate.store.transaction import transaction


def test_commits_on_success_and_rolls_back_on_error() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    with transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
    con.execute("CREATE TABLE u (y INTEGER PRIMARY KEY)")

    def two_writes() -> None:
        with transaction(con):
            con.execute("INSERT INTO t VALUES (2)")
            con.execute("INSERT INTO u VALUES (1), (1)")

    with pytest.raises(duckdb.ConstraintException):
        two_writes()
    assert con.execute("SELECT list(x) FROM t").fetchone() == ([1],)
    # the connection is usable again (no transaction left open)
    with transaction(con):
        con.execute("INSERT INTO t VALUES (3)")
    assert con.execute("SELECT list(x ORDER BY x) FROM t").fetchone() == ([1, 3],)
