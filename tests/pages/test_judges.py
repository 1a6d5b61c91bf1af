"""Independent judges: pypi-simple and mousebender parse the upstream's page and the gateway's page,
for every pair of upstream format and client `Accept`; every parsed field but the URLs must agree.

When the gateway converts, a few fields cannot agree, because the target format has no place for
them or the judge does not read them there; each such field is listed below with its reason, and
everything else is compared.
"""

from __future__ import annotations

import json
import warnings
from typing import Any
from urllib.parse import urljoin

import httpx
import pypi_simple
import pytest
from mousebender import simple as mousebender

from tests.pages.conftest import Gateways
from tests.pages.synthetic import JSON_V1, SyntheticIndex

ACCEPTS = [JSON_V1, "application/vnd.pypi.simple.v1+html", "text/html"]
URL_FIELDS = {"url", "provenance_url"}

#: pypi-simple fields that cannot agree across formats: (upstream format, client format) -> fields.
PYPI_SIMPLE_LOST = {
    ("json", "html"): {
        "size",  # PEP 700 has no HTML form
        "upload_time",  # PEP 700
        "digests",  # an HTML link carries one hash (sha256), checked below to be a subset
        "versions",  # PEP 700
        "last_serial",  # HTML's <!--SERIAL--> comment is not read by pypi-simple
        "alternate_locations",  # PEP 708 is not one of the PEPs pkgate converts
    },
    ("html", "json"): {
        "repository_version",  # JSON can claim 1.1+ only with every size known (PEP 700)
        "versions",  # derived from the filenames for JSON; HTML has none
        "last_serial",  # the comment is not read from HTML by pypi-simple
        "tracks",  # PEP 708
    },
}


def fmt(ctype: str) -> str:
    return "json" if ctype.startswith(JSON_V1) else "html"


def with_absolute_provenance(body: bytes, page_url: str) -> dict[str, Any]:
    """pypi-simple types `provenance` as an absolute URL, while the gateway (like PEP 691 for `url`)
    writes links relative to its own root: join them to the page URL first, as for `url`."""
    data: dict[str, Any] = json.loads(body)
    for f in data["files"]:
        if isinstance(f.get("provenance"), str):
            f["provenance"] = urljoin(page_url, f["provenance"])
    return data


def ps_page(body: bytes, ctype: str, page_url: str) -> dict[str, Any]:
    if fmt(ctype) == "json":
        page = pypi_simple.ProjectPage.from_json_data(with_absolute_provenance(body, page_url), page_url)
    else:
        page = pypi_simple.ProjectPage.from_html("demo", body, base_url=page_url)
    out = {k: v for k, v in vars(page).items() if k != "packages"}
    out["packages"] = [{k: v for k, v in vars(p).items() if k not in URL_FIELDS} for p in page.packages]
    return out


def mb_page(body: bytes, ctype: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mousebender.APIVersionWarning)  # it knows up to 1.1 in HTML
        page: dict[str, Any] = dict(mousebender.parse_project_details(body.decode(), ctype, "demo"))
    page["files"] = [{k: v for k, v in f.items() if k not in ("url", "provenance")} for f in page["files"]]
    return page


async def fetch(upstream: SyntheticIndex, gateways: Gateways, kind: str, accept: str) -> tuple[Any, ...]:
    """(upstream body, its type, gateway body, its type) for one pair."""
    up_accept = JSON_V1 if kind == "json" else "text/html"
    page_url = f"{upstream.simple_url}demo/"
    async with httpx.AsyncClient() as plain:
        up = await plain.get(page_url, headers={"accept": up_accept})
    gw = await gateways[kind].get("/simple/demo/", headers={"accept": accept})
    assert up.status_code == gw.status_code == 200
    return up.content, up.headers["content-type"], gw.content, gw.headers["content-type"]


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("kind", ["json", "html"])
async def test_pypi_simple_reads_the_same_page(
    gateways: Gateways, upstream: SyntheticIndex, kind: str, accept: str
) -> None:
    up_body, up_type, gw_body, gw_type = await fetch(upstream, gateways, kind, accept)
    page_url = f"{upstream.simple_url}demo/"
    want = ps_page(up_body, up_type, page_url)
    got = ps_page(gw_body, gw_type, "http://gw/simple/demo/")
    lost = PYPI_SIMPLE_LOST.get((kind, fmt(gw_type)), set())
    assert len(got["packages"]) == len(want["packages"]) == 2
    for g, w in zip(got["packages"], want["packages"], strict=True):
        if "digests" in lost:
            assert g["digests"].items() <= w["digests"].items()
            assert g["digests"]
        assert {k: v for k, v in g.items() if k not in lost} == {k: v for k, v in w.items() if k not in lost}
    assert {k: v for k, v in got.items() if k not in lost | {"packages"}} == {
        k: v for k, v in want.items() if k not in lost | {"packages"}
    }
    assert want["status"] == "deprecated"  # the judge did read the PEP 792 marker
    assert sum(p["has_metadata"] is True for p in want["packages"]) == 2


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("kind", ["json", "html"])
async def test_mousebender_reads_the_same_page(
    gateways: Gateways, upstream: SyntheticIndex, kind: str, accept: str
) -> None:
    up_body, up_type, gw_body, gw_type = await fetch(upstream, gateways, kind, accept)
    want = mb_page(up_body, up_type)
    got = mb_page(gw_body, gw_type)
    if kind == fmt(gw_type):
        assert got == want  # the same format: everything but the URLs
        return
    # Converted: mousebender's HTML reader yields the PEP 503/592/658/714 keys; compare those.
    html_side, json_side = (got, want) if fmt(gw_type) == "html" else (want, got)
    assert html_side["name"] == json_side["name"] == "demo"
    for h, j in zip(html_side["files"], json_side["files"], strict=True):
        for key, value in h.items():
            if key == "hashes":
                assert value.items() <= j["hashes"].items()
                assert value
            else:
                assert value == j[key], key
        assert "core-metadata" in h
        assert "dist-info-metadata" in h  # PEP 714: both, from either side
