"""Property: whatever method, path, query and headers a client sends, the gateway answers with a
deliberate status (never 500), records exactly one event, and puts no CR/LF in any header."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate import config
from pkgate.edge.app import Worker
from pkgate.edge.gateway import Gateway
from pkgate.events.spool import iter_all

PATHS = st.one_of(
    st.text(max_size=300).map(lambda s: "/" + s),
    st.sampled_from(["/simple/", "/simple", "/files/", "/", "/healthz"]).flatmap(
        lambda p: st.text(max_size=80).map(lambda s: p + s)
    ),
    st.lists(st.text("abcXYZ019-_.%/~+=", max_size=40), min_size=1, max_size=5).map(
        lambda parts: "/files/" + "/".join(parts)
    ),
)
HEADER_NAMES = st.sampled_from(
    ["accept", "user-agent", "if-none-match", "if-modified-since", "range", "x-forwarded-for", "forwarded"]
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop, Gateway]]:
    """A real worker on its own event loop (hypothesis calls the test synchronously per example)."""
    data = tmp_path_factory.mktemp("gw") / "data"
    cfg = config.load(
        None,
        env={
            "PKGATE_UPSTREAMS_LOCAL_URL": "http://127.0.0.1:9/simple/",  # nothing listens: upstream errors
            "PKGATE_GATEWAY_DEFAULT_UPSTREAM": "local",
            "PKGATE_GATEWAY_SECRET": "property-test-secret-0123",
            "PKGATE_GATEWAY_UPSTREAM_TIMEOUT": "0.5",
            "PKGATE_STORAGE_DATA_DIR": str(data),
            "PKGATE_STORAGE_FSYNC": "off",
        },
    )
    loop = asyncio.new_event_loop()
    worker = Worker(cfg)
    gateway = loop.run_until_complete(worker.start())
    yield loop, gateway
    loop.run_until_complete(worker.close())
    loop.close()


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "BREW", ""]),
    path=PATHS,
    query=st.text(max_size=200),
    headers=st.dictionaries(HEADER_NAMES, st.text(max_size=200), max_size=5),
)
def test_any_request_gets_a_deliberate_answer(
    running: tuple[asyncio.AbstractEventLoop, Gateway],
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
) -> None:
    loop, gateway = running
    before = sum(1 for _ in iter_all(gateway.spool_dir))
    status, out_headers, _ = loop.run_until_complete(
        gateway.handle(method, path, query, headers, "192.0.2.1")
    )
    assert status != 500
    assert 200 <= status < 600
    for name, value in out_headers:
        assert "\r" not in value
        assert "\n" not in value
        assert "\r" not in name
    recorded = sum(1 for _ in iter_all(gateway.spool_dir)) - before
    assert recorded == (0 if path in ("/healthz", "/metrics") else 1)


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ("/simple/six/", "&".join(["a=1"] * 50) + "&format=json", {}),  # too many query fields
        ("/simple/six/", "format=%ff%fe", {}),
        ("/simple/" + "a" * 5000 + "/", "", {}),
        ("/files/x/" + "A" * 9000 + "/x.whl", "", {}),
        ("/simple/six/", "", {"accept": ",".join(["text/html;q=0.5"] * 5000)}),
        ("/simple/six/", "", {"if-modified-since": "not a date", "if-none-match": '"' * 3000}),
    ],
)
def test_hostile_inputs(
    running: tuple[asyncio.AbstractEventLoop, Gateway], path: str, query: str, headers: dict[str, str]
) -> None:
    loop, gateway = running
    status, _, _ = loop.run_until_complete(gateway.handle("GET", path, query, headers, "192.0.2.1"))
    assert status in (301, 400, 404, 406, 502)
