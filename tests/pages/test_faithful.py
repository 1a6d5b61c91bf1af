"""Faithful pages through the gateway: a synthetic upstream (real HTTP, loopback) serving every PEP
field plus keys, attributes and `<meta>` tags no PEP defines, in both formats, compared key by key
with what the gateway serves, for every pair of upstream format and client `Accept`.

Expected values are written out here from the synthetic documents (tests/edge/synthetic.py), not
computed by pkgate's own parsers.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin

import httpx
import pytest

from tests.pages.conftest import Gateways
from tests.pages.synthetic import MD5_A, META_A, SHA_A, SHA_B, SyntheticIndex, project_html, project_json

JSON = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
ACCEPTS = [JSON, HTML_V1, "text/html"]


class Events(HTMLParser):
    """Everything an HTML parser sees, in order: the ground truth for "unchanged"."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[Any, ...]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append(("data", data))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl", decl))


def merged(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Adjacent text runs joined (dropping a tag joins the text around it)."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        if e[0] == "data" and out and out[-1][0] == "data":
            out[-1] = ("data", out[-1][1] + e[1])
        else:
            out.append(e)
    return out


async def target(client: httpx.AsyncClient, link: str) -> str:
    """Where a gateway file link sends the client."""
    r = await client.get(urldefrag(link)[0])
    assert r.status_code == 302, (link, r.status_code, r.text)
    return r.headers["location"]


def absolute(upstream: SyntheticIndex) -> dict[str, str]:
    """The upstream URL of each file and provenance, resolved as a client of the upstream would."""
    return {
        "demo-1.0.tar.gz": f"{upstream.url}/packages/aa/demo-1.0.tar.gz",
        "demo-2.0-py3-none-any.whl": f"{upstream.url}/packages/bb/demo-2.0-py3-none-any.whl",
        "provenance": f"{upstream.url}/integrity/demo/1.0/demo-1.0.tar.gz/provenance",
    }


# --- same format: the upstream's document, links changed -------------------------------------------


async def test_json_to_json_is_the_upstream_document(gateways: Gateways, upstream: SyntheticIndex) -> None:
    client = gateways["json"]
    r = await client.get("/simple/demo/", headers={"accept": JSON})
    assert r.status_code == 200
    got = json.loads(r.content)
    want = project_json(upstream.url)
    assert list(got) == list(want)  # same keys, same order
    for key in want:
        if key != "files":
            assert got[key] == want[key]
            assert json.dumps(got[key]) == json.dumps(want[key])  # same JSON types and order inside
    assert type(got["meta"]["_last-serial"]) is str
    assert got["x-top-extra"] == 123456789012345678901234567890
    urls = absolute(upstream)
    for g, w in zip(got["files"], want["files"], strict=True):
        assert list(g) == list(w)
        for key in w:
            if key in ("url", "provenance") and w[key] is not None:
                assert g[key].startswith("/files/demo/")
            else:
                assert json.dumps(g[key]) == json.dumps(w[key]), key
        assert await target(client, g["url"]) == urls[w["filename"]]
        meta = await client.get(urldefrag(g["url"])[0] + ".metadata")
        assert meta.headers["location"] == urls[w["filename"]] + ".metadata"
    first = got["files"][0]
    assert first["provenance"].endswith("/demo-1.0.tar.gz.provenance")
    assert await target(client, first["provenance"]) == urls["provenance"]


async def test_html_to_html_is_the_upstream_document(gateways: Gateways, upstream: SyntheticIndex) -> None:
    client = gateways["html"]
    urls = absolute(upstream)
    want = Events(project_html(upstream.url)).events
    want = merged([e for e in want if e[:2] != ("start", "base")])  # dropped: links are resolved
    for accept in (HTML_V1, "text/html"):
        r = await client.get("/simple/demo/", headers={"accept": accept})
        assert r.status_code == 200
        assert r.headers["content-security-policy"].startswith("sandbox")
        got = merged(Events(r.text).events)
        assert len(got) == len(want)
        files = 0
        for g, w in zip(got, want, strict=True):
            if w[0] == "start" and w[1] == "a" and dict(w[2]).get("href"):
                files += 1
                g_attrs, w_attrs = dict(g[2]), dict(w[2])
                assert [k for k, _ in g[2]] == [k for k, _ in w[2]]  # every attribute, in order
                for name, value in w_attrs.items():
                    if name == "href":
                        link, fragment = urldefrag(g_attrs["href"])
                        assert link.startswith("/files/demo/")
                        assert fragment == urldefrag(value)[1]  # the hash fragment is kept
                        want_url = urldefrag(urljoin(f"{upstream.url}/packages/", value))[0]
                        assert await target(client, link) == want_url
                    elif name == "data-provenance":
                        assert await target(client, g_attrs[name]) == urls["provenance"]
                    else:
                        assert g_attrs[name] == value, name
            else:
                assert g == w  # meta tags (known or not), text, comments: unchanged
        assert files == 2


@pytest.mark.parametrize("kind", ["json", "html"])
async def test_roots_are_the_upstream_documents(gateways: Gateways, kind: str) -> None:
    client = gateways[kind]
    r = await client.get("/simple/", headers={"accept": JSON})
    doc = r.json()
    if kind == "json":
        assert doc == {
            "meta": {"api-version": "1.4", "_last-serial": "7", "x-root-extra": [True]},
            "projects": [{"name": "Demo", "x-project-extra": 1}, {"name": "other_Thing"}],
            "x-top": "kept",
        }
    else:  # converted: the names, in the upstream's order
        assert doc == {
            "meta": {"api-version": "1.4"},
            "projects": [{"name": "Demo"}, {"name": "other_Thing"}],
        }
    r = await client.get("/simple/", headers={"accept": "text/html"})
    anchors = [e[2] for e in Events(r.text).events if e[:2] == ("start", "a")]
    if kind == "html":
        assert anchors == [[("href", "/simple/demo/"), ("data-x", "1")],
                           [("class", "x"), ("href", "/simple/other-thing/")]]  # fmt: skip
        assert '<meta name="x-root" content="kept">' in r.text
    else:
        assert anchors == [[("href", "/simple/demo/")], [("href", "/simple/other-thing/")]]
        assert '<meta name="pypi:repository-version" content="1.4">' in r.text


@pytest.mark.parametrize("kind", ["json", "html"])
async def test_pages_keep_etags_and_304(gateways: Gateways, kind: str) -> None:
    client = gateways[kind]
    for accept in ACCEPTS:
        r = await client.get("/simple/demo/", headers={"accept": accept})
        etag = r.headers["etag"]
        again = await client.get("/simple/demo/", headers={"accept": accept})
        assert again.headers["etag"] == etag
        assert again.content == r.content  # deterministic
        r304 = await client.get("/simple/demo/", headers={"accept": accept, "if-none-match": etag})
        assert r304.status_code == 304
        assert r304.content == b""


# --- conversions: every PEP field, both ways ----------------------------------------------------------


async def test_json_upstream_to_html_client_maps_every_pep_field(
    gateways: Gateways, upstream: SyntheticIndex
) -> None:
    client = gateways["json"]
    urls = absolute(upstream)
    r = await client.get("/simple/demo/", headers={"accept": "text/html"})
    events = Events(r.text).events
    metas = [dict(e[2]) for e in events if e[:2] == ("start", "meta") and "name" in dict(e[2])]
    assert {m["name"]: m["content"] for m in metas} == {
        "pypi:repository-version": "1.4",
        "pypi:project-status": "deprecated",
        "pypi:project-status-reason": "use <demo2> & co",
    }
    assert ("comment", "SERIAL 31038302") in events
    anchors = [dict(e[2]) for e in events if e[:2] == ("start", "a")]
    assert len(anchors) == 2
    a, b = anchors
    assert urldefrag(a.pop("href"))[1] == f"sha256={SHA_A}"  # one hash fits a fragment: sha256
    assert await target(client, a.pop("data-provenance")) == urls["provenance"]
    assert a == {
        "data-requires-python": ">=3.8, <4",
        "data-core-metadata": f"sha256={META_A}",
        "data-dist-info-metadata": f"sha256={META_A}",
        "data-gpg-sig": "false",
    }
    link, fragment = urldefrag(b.pop("href"))
    assert fragment == f"sha256={SHA_B}"
    assert await target(client, link) == urls["demo-2.0-py3-none-any.whl"]
    assert b == {
        "data-yanked": "broken build",
        "data-core-metadata": "true",
        "data-dist-info-metadata": "true",
        "data-gpg-sig": "true",
    }


async def test_html_upstream_to_json_client_maps_every_pep_field(
    gateways: Gateways, upstream: SyntheticIndex
) -> None:
    client = gateways["html"]
    urls = absolute(upstream)
    doc = (await client.get("/simple/demo/", headers={"accept": JSON})).json()
    a, b = doc.pop("files")
    assert await target(client, a.pop("url")) == urls["demo-1.0.tar.gz"]
    assert await target(client, a.pop("provenance")) == urls["provenance"]
    assert await target(client, b.pop("url")) == urls["demo-2.0-py3-none-any.whl"]
    assert doc == {
        "meta": {"api-version": "1.0", "_last-serial": "31038302"},  # 1.0: HTML has no sizes (PEP 700)
        "name": "demo",
        "versions": ["1.0", "2.0"],  # derived from the filenames
        "project-status": {"status": "deprecated", "reason": "use <demo2> & co"},
    }
    assert a == {
        "filename": "demo-1.0.tar.gz",
        "hashes": {"sha256": SHA_A},
        "requires-python": ">=3.8, <4",
        "core-metadata": {"sha256": META_A},
        "dist-info-metadata": {"sha256": META_A},
        "gpg-sig": False,
    }
    assert b == {
        "filename": "demo-2.0-py3-none-any.whl",
        "hashes": {"sha256": SHA_B},
        "yanked": "broken build",
        "core-metadata": True,
        "dist-info-metadata": True,
        "gpg-sig": True,
    }
    assert MD5_A not in json.dumps(doc)
