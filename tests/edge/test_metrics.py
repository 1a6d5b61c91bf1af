"""Prometheus exposition: every family announced once, labelled samples, histogram cumulative."""

from __future__ import annotations

from pkgate.edge.metrics import BUCKETS, Snapshot, render


def test_render_families_and_samples() -> None:
    snap = Snapshot(
        requests={"file|302": 7, "index-project|200": 2},
        upstream_requests={"pypi": 3},
        upstream_failures={"pypi": 1},
        cache={"hit": 4},
        breakers={"pypi": 2, "private": 0},
        failovers={"pypi|mirror": 5},
        reloads={"applied": 1},
        latency_buckets={"pypi": [1, 1] + [0] * (len(BUCKETS) - 1)},
        latency_sum={"pypi": 0.012},
    )
    text = render(snap, spool_lag=9)
    lines = text.splitlines()
    assert text.endswith("\n")
    for line in [
        'pkgate_requests_total{kind="file",status="302"} 7',
        'pkgate_requests_total{kind="index-project",status="200"} 2',
        "pkgate_spool_lag_events 9",
        'pkgate_page_cache_total{state="hit"} 4',
        'pkgate_upstream_requests_total{upstream="pypi"} 3',
        'pkgate_upstream_failures_total{upstream="pypi"} 1',
        'pkgate_upstream_breaker_state{upstream="pypi"} 2',
        'pkgate_upstream_up{upstream="pypi"} 0',
        'pkgate_upstream_up{upstream="private"} 1',
        'pkgate_failovers_total{primary="pypi",upstream="mirror"} 5',
        'pkgate_config_reloads_total{result="applied"} 1',
        'pkgate_upstream_latency_seconds_bucket{upstream="pypi",le="0.005"} 1',
        'pkgate_upstream_latency_seconds_bucket{upstream="pypi",le="0.01"} 2',
        'pkgate_upstream_latency_seconds_bucket{upstream="pypi",le="+Inf"} 2',
        'pkgate_upstream_latency_seconds_sum{upstream="pypi"} 0.012',
        'pkgate_upstream_latency_seconds_count{upstream="pypi"} 2',
    ]:
        assert line in lines
    types = [ln.split()[2] for ln in lines if ln.startswith("# TYPE")]
    assert len(types) == len(set(types))  # each family announced once
    helps = [ln.split()[2] for ln in lines if ln.startswith("# HELP")]
    assert helps == types
