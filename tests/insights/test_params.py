from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.insights.params import DEFAULT_DAYS, MAX_DAYS, ParamError, parse_int, parse_query

NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def test_defaults_are_the_last_30_whole_days() -> None:
    q = parse_query({}, now=NOW)
    assert q.until == dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
    assert q.since == dt.datetime(2026, 4, 2, tzinfo=dt.UTC) == q.until - dt.timedelta(days=DEFAULT_DAYS)
    assert q.project is None
    assert q.ecosystem is None


def test_ecosystem_filter() -> None:
    assert parse_query({"ecosystem": "npm"}, now=NOW).ecosystem == "npm"
    assert parse_query({"ecosystem": ""}, now=NOW).ecosystem is None
    with pytest.raises(ParamError, match=r"^ecosystem: expected one of python, npm"):
        parse_query({"ecosystem": "cargo"}, now=NOW)


def test_dates_are_utc_midnight_and_projects_normalised() -> None:
    q = parse_query(
        {"since": "2026-04-01", "until": "2026-04-03T06:00:00+02:00", "project": "Jaraco.Functools"}
    )
    assert q.since == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert q.until == dt.datetime(2026, 4, 3, 4, tzinfo=dt.UTC)
    assert q.project == "jaraco-functools"


def test_empty_project_means_all() -> None:
    assert parse_query({"project": ""}, now=NOW).project is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since: expected a date like 2026-11-25"),
        ({"until": "2026-13-01"}, "until: expected a date"),
        ({"since": "2026-04-02", "until": "2026-04-01"}, "since: must be before until"),
        ({"since": "2026-04-01", "until": "2026-04-01"}, "since: must be before until"),
        ({"since": "0001-01-01"}, "since: out of range"),
        ({"since": "1900-01-01", "until": "2026-01-01"}, "since: out of range"),
        ({"since": "1971-01-01", "until": "2026-01-01"}, f"since: range longer than {MAX_DAYS} days"),
        ({"project": "-bad-"}, "project: not a valid project name"),
        ({"project": "a//b"}, "project: not a valid project name"),
        ({"since": "2" * 100}, "since: too long"),
    ],
)
def test_bad_values_name_the_parameter(params: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_query(params, now=NOW)
    assert str(info.value).startswith(message)


def test_parse_int() -> None:
    assert parse_int({}, "limit", 7, 1, 10) == 7
    assert parse_int({"limit": "10"}, "limit", 7, 1, 10) == 10
    for bad in ("0", "11", "-1", "1e3", "", "x"):
        with pytest.raises(ParamError, match=r"^limit: expected an integer 1\.\.10"):
            parse_int({"limit": bad}, "limit", 7, 1, 10)


_KEYS = st.sampled_from(["since", "until", "project", "ecosystem", "other"])


@given(st.dictionaries(_KEYS, st.text(max_size=80)))
def test_any_input_gives_a_query_or_a_param_error(params: dict[str, str]) -> None:
    try:
        q = parse_query(params, now=NOW)
    except ParamError as exc:
        param = exc.param
        assert param in ("since", "until", "project", "ecosystem")
        return
    assert q.since < q.until
    assert q.since.tzinfo is not None
    assert q.until.tzinfo is not None
    assert q.project is None or q.project == q.project.lower()


@given(
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(8000, 1, 1)), st.integers(1, 1000)
)
def test_iso_round_trip(start: dt.datetime, hours: int) -> None:
    since = start.replace(tzinfo=dt.UTC)
    until = since + dt.timedelta(hours=hours)
    q = parse_query({"since": since.isoformat(), "until": until.isoformat()})
    assert (q.since, q.until) == (since, until)


def test_repository_names_are_kept() -> None:
    """Image repositories and npm scopes are not PEP 503 names: only lower-cased."""
    assert parse_query({"project": "Acme/My_App", "ecosystem": "oci"}, now=NOW).project == "acme/my_app"
    assert parse_query({"project": "library/alpine"}, now=NOW).project == "library/alpine"
    assert parse_query({"project": "my_pkg", "ecosystem": "oci"}, now=NOW).project == "my_pkg"
    assert parse_query({"project": "My_Pkg"}, now=NOW).project == "my-pkg"  # Python: PEP 503
    with pytest.raises(ParamError):
        parse_query({"project": "a//b", "ecosystem": "oci"}, now=NOW)
