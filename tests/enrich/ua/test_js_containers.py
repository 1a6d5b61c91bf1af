"""JavaScript package managers and container clients, from the strings their sources build."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.enrich.ua import parse
from pkgate.enrich.ua.js_tools import GOT_DEFAULT


def test_npm_in_github_actions_names_the_provider() -> None:
    r = parse("npm/10.8.2 node/v20.18.0 linux x64 workspaces/false ci/github-actions")
    assert (r.category, r.installer, r.installer_version) == ("installer", "npm", "10.8.2")
    assert (r.implementation, r.implementation_version, r.system, r.cpu) == (
        "node",
        "20.18.0",
        "Linux",
        "x86_64",
    )
    assert (r.ci, r.ci_provider) == (True, "github-actions")


def test_npm_on_a_laptop_is_not_ci() -> None:
    r = parse("npm/11.6.2 node/v24.11.1 darwin arm64 workspaces/false")
    assert (r.installer, r.system, r.cpu, r.ci, r.ci_provider) == ("npm", "Darwin", "arm64", False, None)


@pytest.mark.parametrize(
    ("ua", "installer", "version", "system"),
    [
        ("pnpm/9.12.3 npm/? node/v20.18.0 linux x64", "pnpm", "9.12.3", "Linux"),
        ("yarn/1.22.22 npm/? node/v20.18.0 win32 x64", "yarn", "1.22.22", "Windows"),
        ("yarn/4.5.1 npm/? node/v22.11.0 linux arm64", "yarn", "4.5.1", "Linux"),
        ("bun/1.1.34 npm/? node/v22.6.0 linux x64", "bun", "1.1.34", "Linux"),
    ],
)
def test_npm_template_tools(ua: str, installer: str, version: str, system: str) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version, r.system) == (
        "installer",
        installer,
        version,
        system,
    )
    assert r.implementation == "node"
    assert r.ci is None  # only npm states "no CI"; the others say nothing either way


def test_bare_bun_is_the_installer() -> None:
    r = parse("Bun/1.1.30")
    assert (r.category, r.installer, r.installer_version) == ("installer", "bun", "1.1.30")


def test_bun_install_sends_its_bare_name() -> None:
    """What `bun install` 1.4.5 sent to a registry (captured), the case it is written in."""
    r = parse("Bun/1.4.5")
    assert (r.category, r.installer, r.installer_version, r.implementation) == (
        "installer",
        "bun",
        "1.4.5",
        None,
    )


def test_yarn_berry_is_gots_default_user_agent() -> None:
    """Yarn 4.18.1 sends only `got`'s default header (captured): yarn, version unknown."""
    r = parse("got (https://github.com/sindresorhus/got)")
    assert (r.category, r.installer, r.installer_version, r.implementation) == (
        "installer",
        "yarn",
        None,
        "node",
    )
    assert parse("  got (https://github.com/sindresorhus/got) ").installer == "yarn"


@pytest.mark.parametrize(
    "ua",
    [
        "got/11.8.6 (https://github.com/sindresorhus/got)",
        "got (https://github.com/sindresorhus/got) my-script/1.0",
        "Got (https://github.com/sindresorhus/got)",
        "got",
    ],
)
def test_other_got_headers_stay_scripts(ua: str) -> None:
    r = parse(ua)
    assert (r.category, r.installer) == ("script", "got")


@given(st.text(min_size=1).filter(lambda t: t.strip() != ""))
def test_only_gots_exact_default_is_yarn(extra: str) -> None:
    """Whatever follows got's default header, it is no longer yarn berry's, and parsing is total."""
    assert parse(f"{GOT_DEFAULT} {extra}").installer != "yarn"
    assert parse(f"got/{extra}").installer != "yarn"


def test_docker_daemon() -> None:
    r = parse(
        "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0-1025-azure os/linux arch/amd64 "
        "UpstreamClient(Docker-Client/24.0.7 \\(linux\\))"
    )
    assert (r.installer, r.installer_version, r.system, r.system_release, r.cpu) == (
        "docker",
        "24.0.7",
        "Linux",
        "6.5.0-1025-azure",
        "x86_64",
    )
    assert (r.implementation, r.implementation_version) == ("go", "1.20.10")


@pytest.mark.parametrize(
    ("ua", "installer", "version"),
    [
        ("containers/5.24.2 (github.com/containers/image)", "containers-image", "5.24.2"),
        ("containerd/1.7.13", "containerd", "1.7.13"),
        ("crane/v0.20.2 go-containerregistry/v0.20.2", "crane", "0.20.2"),
        ("go-containerregistry/v0.19.0", "go-containerregistry", "0.19.0"),
    ],
)
def test_container_clients(ua: str, installer: str, version: str) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version) == ("installer", installer, version)


def test_containers_without_the_library_comment_is_not_claimed() -> None:
    assert parse("containers/1.0").installer != "containers-image"
