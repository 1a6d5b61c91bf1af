"""Property tests: no input makes the parser raise, and outputs stay bounded and honest."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.enrich.ua import CATEGORIES, MAX_LEN, UserAgent, parse, parse_cached

#: Any JSON value; json.dumps also writes `Infinity`, which is not JSON: garbage for the parser.
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
#: Valid JSON only: field-level guarantees hold for well-formed blobs with mistyped fields.
_VALID = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_PREFIXES = st.sampled_from(["pip/24.0", "uv/0.5.1", "Hatch/1.15.0", "pdm/2.0", "x/1"])


def _check(result: UserAgent) -> None:
    assert isinstance(result, UserAgent)
    assert result.category in CATEGORIES
    for value in msgspec.structs.astuple(result):
        if isinstance(value, str):
            assert len(value) <= MAX_LEN
    assert (result.raw is not None) <= (result.category == "unknown")


@given(st.text(max_size=3000))
def test_any_text(text: str) -> None:
    _check(parse(text))
    assert parse_cached(text) == parse(text)


@given(st.binary(max_size=3000))
def test_any_bytes(data: bytes) -> None:
    result = parse(data)
    _check(result)
    assert result == parse(data.decode("latin-1"))


@given(
    st.lists(
        st.sampled_from(
            [
                "pip/",
                "uv/",
                "Mozilla/5.0 ",
                "(",
                ")",
                "{",
                "}",
                "[",
                '"',
                ":",
                ",",
                "/",
                " ",
                "\x00",
                "CPython/3.1",
                "Linux/",
                "bot",
                "http://",
                "Python-urllib/",
                "é",
                "\\",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_hostile_token_soup(text: str) -> None:
    _check(parse(text))


@given(_PREFIXES, _JSON)
def test_any_json_after_a_prefix(prefix: str, value: Any) -> None:
    result = parse(f"{prefix} {json.dumps(value)}")
    _check(result)
    if prefix != "x/1" or isinstance(value, dict):  # known tools, or any prefix with an object
        assert result.installer is not None


_FIELDS = ("python", "cpu", "openssl_version", "setuptools_version", "rustc_version")


@given(
    st.fixed_dictionaries(
        {},
        optional={
            **{name: st.text(max_size=12) | _VALID for name in _FIELDS},
            "ci": st.booleans() | _VALID,
            "installer": st.fixed_dictionaries(
                {}, optional={"name": st.text(max_size=8) | _VALID, "version": st.text(max_size=8)}
            )
            | _VALID,
            "system": st.fixed_dictionaries({}, optional={"name": st.text(max_size=8) | _VALID}) | _VALID,
        },
    )
)
@settings(max_examples=300)
def test_blob_with_missing_or_mistyped_fields(blob: dict[str, Any]) -> None:
    ua = "pip/24.0 " + json.dumps(blob, separators=(",", ":"))
    result = parse(ua)
    _check(result)
    assert result.category != "unknown"
    if len(ua) > MAX_LEN:
        return  # cut to MAX_LEN first: later members are legitimately lost
    for name in _FIELDS:  # a well-typed field survives whatever its neighbours are
        expected = blob.get(name)
        assert getattr(result, name) == (expected if isinstance(expected, str) else None)
    ci = blob.get("ci")
    assert result.ci == (ci if isinstance(ci, bool) else None)
    system = blob.get("system")
    if isinstance(system, dict) and isinstance(system.get("name"), str):
        assert result.system == system["name"]


_UV = (
    'uv/0.5.1 {"installer":{"name":"uv","version":"0.5.1","subcommand":["pip","install"]},'
    '"python":"3.12.7","implementation":{"name":"CPython","version":"3.12.7"},'
    '"distro":{"name":"Ubuntu","version":"24.04","id":"noble","libc":{"lib":"glibc","version":"2.39"}},'
    '"system":{"name":"Linux","release":"6.8.0"},"cpu":"x86_64","openssl_version":null,'
    '"setuptools_version":null,"rustc_version":null,"ci":true}'
)


@given(st.integers(min_value=0, max_value=len(_UV)))
def test_truncated_blob_never_invents(cut: int) -> None:
    full = parse(_UV)
    result = parse(_UV[:cut])
    _check(result)
    if cut > len("uv/0.5.1 "):
        assert result.installer == "uv"
        for name in UserAgent.__struct_fields__[1:-1]:
            value = getattr(result, name)
            assert value is None or value == getattr(full, name), name
