"""PEP 691 content negotiation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.edge.negotiate import HTML_LEGACY, HTML_V1, JSON_V1, SUPPORTED, negotiate

LATEST_JSON = "application/vnd.pypi.simple.latest+json"
LATEST_HTML = "application/vnd.pypi.simple.latest+html"
PIP_ACCEPT = f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.01"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # absent/empty: what pip < 22.2 and plain urllib send
        (None, HTML_LEGACY),
        ("", HTML_LEGACY),
        ("   ", HTML_LEGACY),
        # real clients
        (PIP_ACCEPT, JSON_V1),  # pip >= 22.2 and uv
        ("text/html", HTML_LEGACY),  # pip < 22.2
        (BROWSER_ACCEPT, HTML_LEGACY),
        ("*/*", HTML_LEGACY),  # requests, curl: PEP 691 says absent == */*
        # single explicit types and the latest aliases
        (JSON_V1, JSON_V1),
        (HTML_V1, HTML_V1),
        (LATEST_JSON, JSON_V1),
        (LATEST_HTML, HTML_V1),
        ("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", JSON_V1),  # media types are case-insensitive
        # q-values decide
        (f"{JSON_V1};q=0.5, {HTML_V1}", HTML_V1),
        (f"{JSON_V1};q=0.5, {HTML_V1};q=0.501", HTML_V1),
        (f"text/html;q=1.0, {JSON_V1};q=0.999", HTML_LEGACY),
        (f"{JSON_V1} ; q=0.3 , text/html ; Q=0.2", JSON_V1),
        # ties between named types: server order JSON, v1 HTML, text/html
        (f"text/html, {HTML_V1}, {JSON_V1}", JSON_V1),
        (f"text/html, {HTML_V1}", HTML_V1),
        (f"{HTML_V1};q=0.4, text/html;q=0.4", HTML_V1),
        # named beats wildcard at equal quality
        (f"*/*, {JSON_V1}", JSON_V1),
        ("application/*, text/html", HTML_LEGACY),
        # wildcard-only ties prefer HTML (the client said nothing about the simple API)
        ("application/*", HTML_V1),
        ("text/*", HTML_LEGACY),
        (f"{JSON_V1};q=0.5, */*", HTML_LEGACY),
        # q=0 means "not acceptable", and a more specific range overrides a wildcard
        (f"{JSON_V1};q=0, */*", HTML_LEGACY),
        (f"*/*;q=0, {JSON_V1}", JSON_V1),
        ("text/html;q=0, application/*;q=0.1", HTML_V1),
        (f"application/*;q=0, {JSON_V1}", JSON_V1),
        (f"{JSON_V1};q=0, {LATEST_JSON}", JSON_V1),  # the alias is as specific as the name
        # nothing acceptable -> None (406)
        ("application/json", None),
        ("image/png, application/xml", None),
        ("*/*;q=0", None),
        (f"{JSON_V1};q=0", None),
        ("application/vnd.pypi.simple.v2+json", None),
        ("text/plain", None),
        # malformed parts are ignored, never fatal
        (f"garbage, {JSON_V1}", JSON_V1),
        (f"{JSON_V1};q=2, text/html", HTML_LEGACY),  # q out of range: the part is dropped
        (f"{JSON_V1};q=abc, {HTML_V1}", HTML_V1),
        (f"{JSON_V1};q=0.1234, {HTML_V1};q=0.1", HTML_V1),  # 4 decimals: invalid
        ("*/json", HTML_LEGACY),  # invalid range; a wholly malformed header is treated as absent
        (";;;,,,", HTML_LEGACY),
        (f"{JSON_V1};charset=utf-8", JSON_V1),  # other parameters do not matter
        (f"{HTML_V1};q=0.5;level=1, {JSON_V1};q=0.4", HTML_V1),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (JSON_V1, JSON_V1),
        (HTML_V1, HTML_V1),
        ("text/html", HTML_LEGACY),
        (LATEST_JSON, JSON_V1),
        (LATEST_HTML, HTML_V1),
        (" Application/Vnd.Pypi.Simple.V1+Json ", JSON_V1),
        ("json", None),
        ("*/*", None),
        (f"{JSON_V1}, text/html", None),
        (f"{JSON_V1};q=1", None),
        ("", "ACCEPT"),  # empty: no format was named, Accept decides
    ],
)
def test_format_param_overrides_accept(fmt: str, expected: str | None) -> None:
    result = negotiate("text/html", fmt)
    assert result == (HTML_LEGACY if expected == "ACCEPT" else expected)
    if expected not in (None, "ACCEPT"):
        assert negotiate("image/png", fmt) == expected  # Accept is ignored entirely


def test_parts_are_capped() -> None:
    # The acceptable type only appears after the cap: the work done is bounded, so it is never seen.
    accept = ", ".join(["image/png"] * 100 + [JSON_V1])
    assert negotiate(accept) is None
    assert negotiate(", ".join(["image/png"] * 10 + [JSON_V1])) == JSON_V1


def test_long_header_is_not_cached_but_still_answered() -> None:
    accept = "x-" * 400 + f"/y, {JSON_V1}"
    assert negotiate(accept) == JSON_V1
    assert negotiate(accept) == JSON_V1


_PIECES = st.sampled_from(
    [
        JSON_V1,
        HTML_V1,
        "text/html",
        LATEST_JSON,
        LATEST_HTML,
        "*/*",
        "application/*",
        "text/*",
        "image/png",
        "*/x",
        "",
        " ",
        ";",
        "q=",
    ]
)
_PARAMS = st.sampled_from(
    ["", ";q=0", ";q=1", ";q=0.5", ";q=0.001", ";q=1.5", ";q=", ";level=1", ";q=0.5;x=y"]
)


@given(st.lists(st.tuples(_PIECES, _PARAMS), max_size=8))
def test_structured_headers_pick_a_supported_type(parts: list[tuple[str, str]]) -> None:
    accept = ", ".join(media + params for media, params in parts)
    assert negotiate(accept) in (*SUPPORTED, None)


@given(st.one_of(st.none(), st.text(max_size=200)), st.one_of(st.none(), st.text(max_size=60)))
def test_never_raises(accept: str | None, fmt: str | None) -> None:
    assert negotiate(accept, fmt) in (*SUPPORTED, None)


@given(st.permutations([f"{JSON_V1};q=0.3", f"{HTML_V1};q=0.7", "text/html;q=0.7", "*/*;q=0.1"]))
def test_order_of_parts_does_not_matter(parts: list[str]) -> None:
    # PEP 691: the order in Accept carries no meaning.
    assert negotiate(", ".join(parts)) == HTML_V1
