"""Requested vs pulled in, on a hand-made day whose answers are worked out by hand.

Requires-Dist (as `dist_requires` holds it): requests-toolbelt 1.0.0 -> requests; requests 2.32.3
-> certifi, charset-normalizer, idna, urllib3; urllib3, idna, six -> nothing; flask has none yet.

- s1 10:00 (one pip session): downloads requests-toolbelt, requests, urllib3, idna, six and asks
  for `acme-private`, which the gateway does not serve (index-miss) -> roots toolbelt and six;
  requests, urllib3, idna are dependencies (urllib3 and idna through requests);
- s2 11:00: requests, urllib3, idna -> root requests;
- s1 15:00 (a new session: more than 60 s later): urllib3 alone -> a root;
- s3 12:00: flask and werkzeug, no metadata for flask yet -> both roots, both incomplete;
- ci 13:00 (a GitHub Actions address): requests alone -> left out of people-only reports.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import duckdb
import pytest
from msgspec.structs import replace

from pkgate.enrich.metadata import Fetched
from pkgate.events import Event
from pkgate.insights import Query
from pkgate.insights.deps import alongside, dependencies, pulled_in_by
from pkgate.insights.registry import by_name
from pkgate.store import ensure_schema, insert_events
from pkgate.store.deps import record_requires
from pkgate.store.rollups import refresh_rollups
from tests.insights.data import at, ev

D = dt.date(2026, 3, 2)
Q = Query(since=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), until=dt.datetime(2026, 3, 3, tzinfo=dt.UTC))
PEOPLE = replace(Q, all_sources=False)


def _session(src: str, hour: int, projects: list[tuple[str, str]], **kw: Any) -> list[Event]:
    return [
        ev(at(D, hour, 0, i), src, "n-" + src, "file", project=p, version=v, **kw)
        for i, (p, v) in enumerate(projects)
    ]


@functools.cache
def store(mode: str = "raw") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    chain = [("requests-toolbelt", "1.0.0"), ("requests", "2.32.3"), ("urllib3", "2.2.2"), ("idna", "3.7")]
    insert_events(
        con,
        [
            *_session("s1", 10, [*chain, ("six", "1.16.0")]),
            ev(at(D, 10, 0, 9), "s1", "n-s1", "index-miss", 404, project="acme-private"),
            *_session("s2", 11, chain[1:]),
            *_session("s1", 15, [("urllib3", "2.2.2")]),
            *_session("s3", 12, [("flask", "3.0.0"), ("werkzeug", "3.0.3")]),
            *_session("ci", 13, [("requests", "2.32.3")], cloud="github-actions"),
        ],
    )
    ok = [
        ("requests-toolbelt", "1.0.0", ("requests",)),
        ("requests", "2.32.3", ("certifi", "charset-normalizer", "idna", "urllib3")),
        ("urllib3", "2.2.2", ()),
        ("idna", "3.7", ()),
        ("six", "1.16.0", ()),
        ("werkzeug", "3.0.3", ("markupsafe",)),
    ]
    if mode == "rolled":
        refresh_rollups(con)  # before the metadata: it is joined at query time
    record_requires(con, [(p, v, f"{p}-{v}.whl", Fetched("ok", r)) for p, v, r in ok])
    return con


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_roots_and_dependencies(mode: str) -> None:
    got = {
        r.project: (r.installs, r.root, r.dependency, r.incomplete) for r in dependencies(store(mode), PEOPLE)
    }
    assert got == {
        "requests-toolbelt": (1, 1, 0, 0),
        "requests": (2, 1, 1, 0),
        "urllib3": (3, 1, 2, 0),
        "idna": (2, 0, 2, 0),
        "six": (1, 1, 0, 0),
        "flask": (1, 1, 0, 1),
        "werkzeug": (1, 1, 0, 1),
    }
    everyone = {r.project: (r.installs, r.root) for r in dependencies(store(mode), Q)}
    assert everyone["requests"] == (3, 2)  # the CI run is back
    one = dependencies(store(mode), replace(PEOPLE, project="urllib3"))
    assert [(r.project, r.root, r.dependency) for r in one] == [("urllib3", 1, 2)]


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_pulled_in_by_roots_through_chains(mode: str) -> None:
    got = [(r.project, r.pulled_in_by, r.installs) for r in pulled_in_by(store(mode), PEOPLE)]
    assert got == [
        ("idna", "requests", 1),
        ("idna", "requests-toolbelt", 1),
        ("requests", "requests-toolbelt", 1),
        ("urllib3", "requests", 1),
        ("urllib3", "requests-toolbelt", 1),
    ]
    assert [r.pulled_in_by for r in pulled_in_by(store(mode), PEOPLE, limit=1) if r.project == "urllib3"] == [
        "requests"
    ]


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_alongside_includes_names_the_gateway_does_not_serve(mode: str) -> None:
    got = [
        (r.alongside, r.sessions, r.served)
        for r in alongside(store(mode), replace(PEOPLE, project="requests"))
    ]
    assert got == [
        ("idna", 2, True),
        ("urllib3", 2, True),
        ("acme-private", 1, False),
        ("requests-toolbelt", 1, True),
        ("six", 1, True),
    ]


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_specs_default_to_people_and_other_ecosystems_have_none(mode: str) -> None:
    spec = by_name("dependencies")
    assert spec is not None
    assert {r.project: r.installs for r in spec(store(mode), Q, {})}["requests"] == 2
    assert {r.project: r.installs for r in spec(store(mode), Q, {"all_sources": "true"})}["requests"] == 3
    assert dependencies(store(mode), replace(Q, ecosystem="npm")) == []


def test_a_store_without_metadata_has_only_roots() -> None:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(con, _session("s1", 10, [("requests", "2.32.3"), ("urllib3", "2.2.2")]))
    got = {r.project: (r.root, r.dependency, r.incomplete) for r in dependencies(con, Q)}
    assert got == {"requests": (1, 0, 1), "urllib3": (1, 0, 1)}
