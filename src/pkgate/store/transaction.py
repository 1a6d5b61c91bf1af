"""One DuckDB transaction as a `with` block: committed when the block ends, rolled back when it raises.

Every write that must land together (a batch and its spool offset, an erasure and its deletes, a
rollup day and its state row) goes through this, so no caller can forget the rollback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.begin()
    try:
        yield con
        con.commit()  # constraints may be checked here: a failed commit is rolled back too
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # the original error is the one to report
            con.rollback()
        raise
