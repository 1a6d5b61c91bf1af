"""HTTP libraries and downloaders."""

from __future__ import annotations

import pytest

from pkgate.enrich.ua import parse


@pytest.mark.parametrize(
    ("ua", "name", "version"),
    [
        ("python-requests/2.32.3", "requests", "2.32.3"),
        ("python-httpx/0.28.1", "httpx", "0.28.1"),
        ("curl/8.5.0", "curl", "8.5.0"),
        ("Wget/1.21.4 (linux-gnu)", "wget", "1.21.4"),
        ("aria2/1.37.0", "aria2", "1.37.0"),
        ("Go-http-client/2.0", "go-http-client", "2.0"),
        ("Go 1.1 package http", "go-http-client", None),
        ("Java/17.0.9", "java", "17.0.9"),
        ("Apache-HttpClient/4.5.14 (Java/17.0.9)", "apache-httpclient", "4.5.14"),
        ("okhttp/4.12.0", "okhttp", "4.12.0"),
        ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "node-fetch", "1.0"),
        ("Chef Client/18.5.0 (ruby-3.1.2-p20; ohai-18.1.11; x86_64-linux; +https://chef.io)", "chef", None),
        ("Apache Ant/1.10.14", "ant", None),
    ],
)
def test_scripts(ua: str, name: str, version: str | None) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version) == ("script", name, version)


def test_requests_with_platform() -> None:
    r = parse("python-requests/2.7.0 CPython/3.7.0 Darwin/17.7.0")
    assert (r.installer, r.python, r.system) == ("requests", "3.7.0", "Darwin")


def test_urllib_keeps_python_version() -> None:
    r = parse("Python-urllib/3.11")
    assert (r.category, r.installer, r.installer_version, r.python) == (
        "script",
        "urllib",
        "3.11",
        "3.11",
    )


def test_aiohttp_after_python() -> None:
    r = parse("Python/3.12 aiohttp/3.11.9")
    assert (r.installer, r.installer_version, r.python) == ("aiohttp", "3.11.9", "3.12")
