"""Input normalisation, unknowns, the cache and the public surface."""

from __future__ import annotations

import pkgate.enrich.ua as ua_pkg
from pkgate.enrich.ua import CATEGORIES, MAX_LEN, PARSER_VERSION, UserAgent, parse, parse_cached

PIP = 'pip/24.3.1 {"installer":{"name":"pip","version":"24.3.1"},"python":"3.12.8"}'


def test_public_api() -> None:
    assert set(ua_pkg.__all__) >= {"UserAgent", "parse", "parse_cached", "PARSER_VERSION"}
    assert isinstance(PARSER_VERSION, int)
    assert PARSER_VERSION >= 1
    assert CATEGORIES == ("installer", "mirror", "browser", "bot", "script", "unknown")


def test_none_and_empty_are_unknown() -> None:
    assert parse(None) == UserAgent("unknown")
    assert parse("") == UserAgent("unknown", raw="")
    assert parse("   ") == UserAgent("unknown", raw="   ")


def test_bytes_are_read_like_the_edge_reads_headers() -> None:
    assert parse(PIP.encode()) == parse(PIP)


def test_utf8_read_as_latin1_is_repaired() -> None:
    text = "frobnicator/1.0 (café)"
    mojibake = text.encode("utf-8").decode("latin-1")
    assert parse(mojibake).raw == text
    assert parse(text.encode("utf-8")).raw == text


def test_invalid_utf8_is_kept_as_latin1() -> None:
    assert parse(b"\xff\xfe/1 x").raw == "\xff\xfe/1 x"


def test_huge_input_is_capped() -> None:
    r = parse("x" * 100_000)
    assert r.category == "unknown"
    assert r.raw is not None
    assert len(r.raw) == MAX_LEN


def test_huge_pip_blob_still_yields_pip() -> None:
    r = parse(PIP[:-1] + ',"pad":"' + "a" * 5000 + '"}')
    assert (r.installer, r.installer_version, r.python) == ("pip", "24.3.1", "3.12.8")


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse("  curl/8.0.1\r\n").installer == "curl"


def test_unknown_product_keeps_name_and_raw() -> None:
    r = parse("frobnicator/1.2 (internal)")
    assert (r.category, r.installer, r.installer_version, r.raw) == (
        "unknown",
        "frobnicator",
        "1.2",
        "frobnicator/1.2 (internal)",
    )


def test_plain_garbage_is_unknown() -> None:
    r = parse("%%% ???")
    assert (r.category, r.installer, r.raw) == ("unknown", None, "%%% ???")


def test_raw_only_for_unknown() -> None:
    assert parse(PIP).raw is None


def test_parse_cached_agrees_and_caches() -> None:
    ua_pkg.clear_cache()
    first = parse_cached(PIP)
    assert first == parse(PIP)
    assert parse_cached(PIP) is first


def test_parse_cached_caps_keys() -> None:
    huge = "y" * 50_000
    assert parse_cached(huge) == parse(huge)
    assert parse_cached(huge.encode()) == parse(huge)


def test_extra_spaces_before_blob() -> None:
    r = parse(PIP.replace(" ", "   ", 1))
    assert (r.installer, r.python) == ("pip", "3.12.8")
