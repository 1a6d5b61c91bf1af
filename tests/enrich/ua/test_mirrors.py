"""Mirrors and repository managers are their own category, with their platform when given."""

from __future__ import annotations

import pytest

from pkgate.enrich.ua import parse


def test_bandersnatch_platform() -> None:
    r = parse("bandersnatch/6.5.0 (CPython 3.11.4-final0, Linux x86_64)")
    assert (r.category, r.installer, r.installer_version) == ("mirror", "bandersnatch", "6.5.0")
    assert (r.implementation, r.python, r.system, r.system_release, r.cpu) == (
        "CPython",
        "3.11.4",
        "Linux",
        None,
        "x86_64",
    )


def test_bandersnatch_with_release() -> None:
    r = parse("bandersnatch/1.8 (CPython 2.7.11-final0, Darwin 15.2.0 x86_64)")
    assert (r.system, r.system_release, r.cpu) == ("Darwin", "15.2.0", "x86_64")


def test_devpi() -> None:
    r = parse("devpi-server/6.14.0 (py3.12.4; linux)")
    assert (r.category, r.installer, r.python, r.system) == ("mirror", "devpi", "3.12.4", "Linux")


def test_nexus() -> None:
    r = parse("Nexus/3.72.0-04 (OSS; Linux; 5.15.0-1057-aws; amd64; 17.0.12)")
    assert (r.installer, r.installer_version, r.system, r.system_release, r.cpu) == (
        "nexus",
        "3.72.0-04",
        "Linux",
        "5.15.0-1057-aws",
        "amd64",
    )


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("Artifactory/7.90.10", "artifactory"),
        ("pep381client-proxy/0.5.6", "pep381client"),
        ("z3c.pypimirror/1.0.16", "z3c.pypimirror"),
        ("proxpi/1.2.0", "proxpi"),
        ("bandersnatch/6.0 (garbled", "bandersnatch"),
    ],
)
def test_simple_mirrors(ua: str, name: str) -> None:
    r = parse(ua)
    assert (r.category, r.installer) == ("mirror", name)
