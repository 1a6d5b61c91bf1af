"""Image pulls in the reports, on a hand-made series (answers worked by hand).

Day 2026-03-02, seconds after 10:00 UTC, all ecosystem "oci", repository acme/app:
  k (containers/image, podman): 0 GET index v1 (index-project 200), 1 GET arm64 manifest by digest
      (manifest 200, platform linux/arm64, tag v1), 2 and 3 GET two blobs (307)  -> one pull
  d (docker): 0 HEAD manifest v1 (a check), 1 GET amd64 manifest (200, linux/amd64), 2 blob 307
      -> one pull, one check
  x (skopeo): 0 GET manifest by digest 404                                       -> a failure
A Python download of six by p on the same day must stay out of an `oci` report.

acme/app v1: downloads (pulls) 2, head (checks) 1, failed 1; blobs are no downloads.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import duckdb
import msgspec
import pytest

from pkgate.events import Event
from pkgate.insights import Query, breakdown, downloads
from pkgate.store import ensure_schema, insert_events
from pkgate.store.rollups import refresh_rollups
from tests.insights.data import at, ev

D = dt.date(2026, 3, 2)
Q = Query(
    since=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
    until=dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
    ecosystem="oci",
)
ARM, AMD, LAYER = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64
PODMAN = "containers/5.23.1 (github.com/containers/image)"
DOCKER = "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0 os/linux arch/amd64"


def t(s: int) -> int:
    return at(D, 10) + s * 1_000_000


def oci(ts: int, src: str, kind: str, status: int, **kw: Any) -> Event:
    kw.setdefault("version", "v1")
    e = ev(ts, src, "n-" + src, kind, status, project="acme/app", ecosystem="oci", **kw)
    return msgspec.structs.replace(e, filename=kw.get("digest"))


def series() -> list[Event]:
    return [
        oci(t(0), "k", "index-project", 200, user_agent=PODMAN),
        oci(t(1), "k", "manifest", 200, digest=ARM, platform="linux/arm64", user_agent=PODMAN),
        oci(t(2), "k", "blob", 307, digest=LAYER, version=None, user_agent=PODMAN),
        oci(t(3), "k", "blob", 307, digest=AMD, version=None, user_agent=PODMAN),
        oci(t(0), "d", "manifest", 200, method="HEAD", user_agent=DOCKER),
        oci(t(1), "d", "manifest", 200, digest=AMD, platform="linux/amd64", user_agent=DOCKER),
        oci(t(2), "d", "blob", 307, digest=LAYER, version=None, user_agent=DOCKER),
        oci(t(0), "x", "manifest", 404, digest=ARM, version=None, user_agent="skopeo/1.9.3"),
        ev(t(5), "p", "n-p", "file", project="six", version="1.16.0"),
    ]


@functools.cache
def build(mode: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(con, series())
    if mode == "rolled":
        refresh_rollups(con)
    return con


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_pulls_checks_and_failures(mode: str) -> None:
    rows = {(r.project, r.version): r for r in downloads(build(mode), Q)}
    app = rows[("acme/app", "v1")]
    assert (app.downloads, app.head, app.index_hits) == (2, 1, 1)
    assert rows[("acme/app", None)].failed == 1
    assert ("six", "1.16.0") not in rows


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_pulls_by_platform_digest_and_client(mode: str) -> None:
    con = build(mode)
    by_platform = {r.value: r.downloads for r in breakdown(con, Q, "platform")}
    assert by_platform == {"linux/arm64": 1, "linux/amd64": 1, None: 0}
    by_digest = {r.value: r.downloads for r in breakdown(con, Q, "digest") if r.downloads}
    assert by_digest == {ARM: 1, AMD: 1}
    by_client = {r.value: r.downloads for r in breakdown(con, Q, "installer")}
    assert by_client == {"containers-image": 1, "docker": 1, "skopeo": 0}
