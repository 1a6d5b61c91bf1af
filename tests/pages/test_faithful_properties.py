"""Property: for any upstream PEP 691 document (known keys well typed, any other keys with any JSON
values, in any order), the gateway's JSON equals it except the `url` (and provenance URL) values.

The document goes through the real path: the synthetic upstream serves it over HTTP, the gateway
(in-process, one event loop for all examples) fetches, parses and renders it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgate.edge.app import ASGIApp
from tests.pages.conftest import gateway_config
from tests.pages.synthetic import JSON_V1, SyntheticIndex

_KNOWN_FILE = {"filename", "url", "hashes", "requires-python", "yanked", "core-metadata",
               "dist-info-metadata", "data-dist-info-metadata", "gpg-sig", "size", "upload-time",
               "provenance"}  # fmt: skip
_KNOWN_TOP = {"meta", "name", "files", "versions", "project-status"}
_any_text = st.text(st.characters(blacklist_categories=("Cs", "Co")), max_size=12)
_clean_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_any_text, inner, max_size=3),
    max_leaves=8,
)
_url = st.sampled_from(["https://files.example/a/", "../../rel/", "/abs/", "http://h:8080/x/y/"])
_hashes = st.dictionaries(
    st.sampled_from(["sha256", "md5", "blake2b"]), st.from_regex(r"[0-9a-f]{8,64}", fullmatch=True)
)
_metadata = st.booleans() | _hashes


def _extras(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_any_text.filter(lambda k: k not in known), _json, max_size=3)


@st.composite
def _ordered(
    draw: st.DrawFn, required: dict[str, Any], optional: dict[str, Any], known: set[str]
) -> dict[str, Any]:
    """`required` plus any subset of `optional` plus unknown keys, in a drawn order."""
    items = list(required.items())
    items += [(k, v) for k, v in optional.items() if draw(st.booleans())]
    items += [(k, v) for k, v in draw(_extras(known)).items() if k not in required]
    return dict(draw(st.permutations(items)))


@st.composite
def _file(draw: st.DrawFn, n: int) -> dict[str, Any]:
    filename = f"{draw(_clean_text.filter(lambda s: s.strip() != ''))}-{n}.tar.gz"
    required = {"filename": filename, "url": draw(_url) + str(n), "hashes": draw(_hashes)}
    optional = {
        "requires-python": draw(st.none() | _clean_text),
        "yanked": draw(st.booleans() | _clean_text),
        "core-metadata": draw(_metadata),
        "dist-info-metadata": draw(_metadata),
        "data-dist-info-metadata": draw(_json),
        "gpg-sig": draw(st.none() | st.booleans()),
        "size": draw(st.none() | st.integers(0, 2**62)),
        "upload-time": draw(st.none() | _clean_text),
        "provenance": draw(st.none() | _url.map(lambda u: f"{u}{n}.provenance")),
    }
    return draw(_ordered(required, optional, _KNOWN_FILE))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    meta = draw(
        _ordered(
            {"api-version": draw(st.sampled_from(["1.0", "1.1", "1.3", "1.4", "1.99"]))},
            {"_last-serial": draw(st.integers(0, 2**40) | _clean_text)},
            {"api-version", "_last-serial"},
        )
    )
    files = [draw(_file(n)) for n in range(draw(st.integers(0, 4)))]
    status = draw(
        _ordered({}, {"status": draw(_clean_text), "reason": draw(_clean_text)}, {"status", "reason"})
    )
    optional = {
        "name": draw(_clean_text.filter(bool)),
        "versions": draw(st.lists(_clean_text, max_size=3)),
        "project-status": status,
    }
    return draw(_ordered({"meta": meta, "files": files}, optional, _KNOWN_TOP))


Runner = tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, SyntheticIndex]


@pytest.fixture(scope="module")
def runner(upstream: SyntheticIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    loop = asyncio.new_event_loop()
    data: Path = tmp_path_factory.mktemp("prop")

    async def start() -> tuple[ASGIApp, httpx.AsyncClient]:
        app = ASGIApp(gateway_config(upstream, "json", data))
        transport = httpx.ASGITransport(app=app, client=("127.0.0.5", 40000))
        return app, httpx.AsyncClient(transport=transport, base_url="http://gw")

    app, client = loop.run_until_complete(start())
    yield loop, client, upstream
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(app.worker.close())
    loop.close()


_names = itertools.count()


def _without_urls(doc: dict[str, Any]) -> str:
    """The document with file URL values blanked, serialised in order (so order is compared too)."""
    out = json.loads(json.dumps(doc))
    for f in out["files"]:
        f["url"] = "U"
        if isinstance(f.get("provenance"), str):
            f["provenance"] = "P"
    return json.dumps(out)


@given(documents())
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_gateway_json_is_the_upstream_json_but_urls(runner: Runner, doc: dict[str, Any]) -> None:
    loop, client, upstream = runner
    name = f"p{next(_names)}"
    upstream.put(f"/simple/{name}/", doc)
    r = loop.run_until_complete(client.get(f"/simple/{name}/", headers={"accept": JSON_V1}))
    assert r.status_code == 200, r.text
    got = json.loads(r.content)
    assert _without_urls(got) == _without_urls(doc)
    for g, w in zip(got["files"], doc["files"], strict=True):
        assert g["url"].startswith(f"/files/{name}/")
        assert g["url"] != w["url"]
        if isinstance(w.get("provenance"), str):
            assert g["provenance"].startswith(f"/files/{name}/")
