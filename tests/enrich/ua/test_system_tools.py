"""Homebrew, Bazel and OS package tools."""

from __future__ import annotations

import pytest

from pkgate.enrich.ua import parse
from pkgate.enrich.ua.system_tools import OS_TOOLS


def test_homebrew_macos_arm() -> None:
    r = parse("Homebrew/4.4.5 (Macintosh; arm64 Mac OS X 15.1) curl/8.7.1")
    assert (r.installer, r.installer_version, r.system, r.distro, r.distro_version, r.cpu) == (
        "homebrew",
        "4.4.5",
        "Darwin",
        "macOS",
        "15.1",
        "arm64",
    )


def test_homebrew_intel_is_x86_64() -> None:
    assert parse("Homebrew/0.9.9 (Macintosh; Intel macOS 10.12.0) curl/7.43.0").cpu == "x86_64"


def test_homebrew_on_linux() -> None:
    r = parse("Homebrew/4.2.0 (Linux; x86_64 Ubuntu 22.04.3 LTS) curl/7.81.0")
    assert (r.system, r.distro, r.distro_version, r.cpu) == ("Linux", "Ubuntu", "22.04.3", "x86_64")


@pytest.mark.parametrize(
    ("ua", "version"),
    [("Bazel/release 7.4.1", "7.4.1"), ("Bazel/7.0.0", "7.0.0"), ("Bazel/1.0 dev", "1.0 dev")],
)
def test_bazel(ua: str, version: str) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version) == ("installer", "bazel", version)


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("fetch libfetch/2.0", "libfetch"),
        ("libfetch/2.0", "libfetch"),
        ("OpenBSD ftp", "openbsd-ftp"),
        ("MacPorts/2.10.2 libcurl/8.7.1", "macports"),
        ("xbps/0.59.2", "xbps"),
        ("slackrepo", "slackrepo"),
    ],
)
def test_os_tools(ua: str, name: str) -> None:
    r = parse(ua)
    assert (r.category, r.installer) == ("installer", name)
    assert name in OS_TOOLS


def test_nix_behind_curl() -> None:
    r = parse("curl/8.9.1 Nix/2.24.10")
    assert (r.category, r.installer, r.installer_version) == ("installer", "nix", "2.24.10")


def test_debian_words() -> None:
    assert (parse("Debian uscan/2.23.7").category, parse("Debian uscan/2.23.7").installer) == (
        "bot",
        "uscan",
    )
    assert parse("Debian APT-HTTP/1.3 (2.6.1)").installer == "apt"
