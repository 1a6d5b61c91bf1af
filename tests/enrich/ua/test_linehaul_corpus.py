"""Every UA in linehaul's own fixtures parses at least as well as linehaul parses it.

Our flat result is mapped back to linehaul's sparse dict; linehaul's expectation must then be a
subset of it. Where linehaul is wrong (documented below), the better answer is asserted instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pkgate.enrich.ua import UserAgent, parse
from pkgate.enrich.ua.system_tools import OS_TOOLS

CORPUS = Path(__file__).parent / "data" / "linehaul-fixture-uas.jsonl"
ROWS: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text().splitlines()]

#: Our scripts that linehaul called "Browser" (it had no script category).
_BROWSERISH_SCRIPTS = frozenset({"curl", "wget", "aria2", "okhttp", "apache-httpclient"})
#: linehaul's capitalised spellings of names we normalise to lowercase.
_LINEHAUL_NAMES = {
    "artifactory": "Artifactory",
    "nexus": "Nexus",
    "bazel": "Bazel",
    "homebrew": "Homebrew",
}

#: Deliberate differences: (ua, dotted key) -> the value we give instead of linehaul's.
_DELIBERATE: dict[tuple[str, str], object] = {
    # We call macOS "macOS" everywhere (as pip and uv do); linehaul invented "OS X" for Homebrew.
    ("Homebrew/0.9.9 (Macintosh; Intel macOS 10.12.0) curl/7.43.0", "distro.name"): "macOS",
    # linehaul split the system at the *last* slash, cutting Cygwin's name.
    (
        "pip/1.4.1 CPython/2.7.3 CYGWIN_NT-6.1-WOW64/1.7.25(0.270/5/3)",
        "system.name",
    ): "CYGWIN_NT-6.1-WOW64",
    (
        "pip/1.4.1 CPython/2.7.3 CYGWIN_NT-6.1-WOW64/1.7.25(0.270/5/3)",
        "system.release",
    ): "1.7.25(0.270/5/3)",
    # linehaul kept the placeholder "Unknown" as a Python version.
    ("pip/1.5.6 CPython/Unknown Darwin/15.2.0", "python"): None,
}


def to_linehaul(ua: UserAgent) -> dict[str, Any]:
    """Our result in linehaul's sparse-dict shape (only set keys present)."""
    out: dict[str, Any] = {}

    def put(path: str, value: object) -> None:
        if value is None:
            return
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    name = ua.installer
    if ua.category == "browser" or name in _BROWSERISH_SCRIPTS:
        put("installer.name", "Browser")
    elif name in OS_TOOLS:
        put("installer.name", "OS")
    elif name != "urllib":  # linehaul reports a bare Python-urllib UA as just a Python version
        put("installer.name", _LINEHAUL_NAMES.get(name or "", name))
        put("installer.version", ua.installer_version)
        put("installer.subcommand", ua.subcommand)
    put("python", ua.python)
    put("implementation.name", ua.implementation)
    put("implementation.version", ua.implementation_version)
    put("distro.name", ua.distro)
    put("distro.version", ua.distro_version)
    put("distro.id", ua.distro_id)
    put("distro.libc.lib", ua.libc)
    put("distro.libc.version", ua.libc_version)
    put("system.name", ua.system)
    put("system.release", ua.system_release)
    put("cpu", ua.cpu)
    put("openssl_version", ua.openssl_version)
    put("setuptools_version", ua.setuptools_version)
    put("rustc_version", ua.rustc_version)
    put("ci", ua.ci)
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _reference(row: dict[str, Any]) -> dict[str, Any] | None:
    """linehaul's expectation, or (for old fixtures without one) what linehaul 1.0.3 returns."""
    if "expected" in row:
        expected: dict[str, Any] | None = row["expected"]
        return expected
    actual = row["actual_linehaul_1_0_3"]
    return actual if isinstance(actual, dict) else None


def test_corpus_is_complete() -> None:
    assert len(ROWS) == 82
    assert len({row["ua"] for row in ROWS}) == 82


@pytest.mark.parametrize("row", ROWS, ids=[row["ua"][:60] for row in ROWS])
def test_at_least_as_good_as_linehaul(row: dict[str, Any]) -> None:
    ua = row["ua"]
    result = parse(ua)
    reference = _reference(row)
    if reference is None:  # linehaul ignores or rejects it: anything we say is an improvement
        assert result.category in {"installer", "mirror", "browser", "bot", "script", "unknown"}
        return
    ours = _flatten(to_linehaul(result))
    for key, value in _flatten(reference).items():
        if (ua, key) in _DELIBERATE:
            assert ours.get(key) == _DELIBERATE[ua, key], key
        elif key == "installer.subcommand" and isinstance(value, list):
            assert ours.get(key) == " ".join(value), key  # actual_linehaul keeps the list
        else:
            assert ours.get(key) == value, key
    assert result.category != "unknown"
    assert result.raw is None


def test_no_row_linehaul_parses_is_unknown_to_us() -> None:
    parsed_by_linehaul = [r["ua"] for r in ROWS if isinstance(r["actual_linehaul_1_0_3"], dict)]
    assert [ua for ua in parsed_by_linehaul if parse(ua).category == "unknown"] == []


def test_rows_linehaul_rejects_are_parsed() -> None:
    rejected = [r["ua"] for r in ROWS if r["actual_linehaul_1_0_3"] == "UnknownUserAgentError"]
    assert len(rejected) == 7  # five Hatch JSON blobs, Lynx, BlackBerry
    assert [ua for ua in rejected if parse(ua).category == "unknown"] == []


def test_hatch_blob_fully_parsed_where_linehaul_fails() -> None:
    row = next(r for r in ROWS if r["ua"].startswith("Hatch/") and '"ci":true' in r["ua"])
    assert row["actual_linehaul_1_0_3"] == "UnknownUserAgentError"
    result = parse(row["ua"])
    assert (result.installer, result.installer_version, result.libc_version) == (
        "hatch",
        "1.15.0",
        "2.35",
    )
    assert result.ci is True


@pytest.mark.parametrize(
    ("ua", "field", "value"),
    [
        # linehaul requires PEP 440 versions and rejects the whole UA otherwise.
        (
            'pip/9.0.1-debian {"installer":{"name":"pip","version":"9.0.1-debian"}}',
            "installer_version",
            "9.0.1-debian",
        ),
        ("pip/1.5.4-ubuntu CPython/2.7.6 Linux/3.13.0", "system_release", "3.13.0"),
        # linehaul only knows uv from 0.1.22 on, pdm without a system, and no pixi at all.
        ("uv/0.1.10", "installer", "uv"),
        ("pdm/2.15.4 CPython/3.12.3 Linux/6.8.0", "system", "Linux"),
        ("pixi/0.40.3", "installer_version", "0.40.3"),
        # A blob cut short by a proxy: linehaul gives up, we keep what is complete.
        (
            'pip/23.3.1 {"ci":null,"cpu":"x86_64","distro":{"id":"jammy","name":"Ubuntu"},"impl',
            "distro_id",
            "jammy",
        ),
        # linehaul has no httpx/aiohttp, and only the Python version of conda's long UA.
        ("python-httpx/0.27.0", "installer", "httpx"),
        ("Python/3.11 aiohttp/3.9.1", "installer", "aiohttp"),
        ("conda/23.1.0 requests/2.28.1 CPython/3.10.9 Darwin/22.3.0 OSX/13.2.1", "distro_version", "13.2.1"),
    ],
)
def test_known_linehaul_bugs_fixed(ua: str, field: str, value: str) -> None:
    assert getattr(parse(ua), field) == value
