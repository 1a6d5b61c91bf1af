"""The JSON blob path: typed fast path, lenient fallback, truncation repair, subcommands."""

from __future__ import annotations

import json
import shlex

import pytest

from pkgate.enrich.ua import parse
from pkgate.enrich.ua.jsonblob import join_subcommand

UV = (
    'uv/0.5.1 {"installer":{"name":"uv","version":"0.5.1","subcommand":["pip","install"]},'
    '"python":"3.12.7","implementation":{"name":"CPython","version":"3.12.7"},'
    '"distro":{"name":"Alpine Linux","version":"3.20.3","id":null,"libc":{"lib":"musl","version":"1.2.5"}},'
    '"system":{"name":"Linux","release":"6.8.0"},"cpu":"aarch64","openssl_version":null,'
    '"setuptools_version":null,"rustc_version":null,"ci":false}'
)


def test_uv_blob_every_field() -> None:
    r = parse(UV)
    assert (r.category, r.installer, r.installer_version, r.subcommand) == (
        "installer",
        "uv",
        "0.5.1",
        "pip install",
    )
    assert (r.implementation, r.implementation_version, r.python) == ("CPython", "3.12.7", "3.12.7")
    assert (r.system, r.system_release, r.cpu) == ("Linux", "6.8.0", "aarch64")
    assert (r.distro, r.distro_version, r.distro_id) == ("Alpine Linux", "3.20.3", None)
    assert (r.libc, r.libc_version) == ("musl", "1.2.5")
    assert r.ci is False
    assert r.raw is None


def test_blob_installer_name_wins_over_prefix() -> None:
    r = parse('pip/24.0 {"installer":{"name":"pipenv","version":"2024.0.1"}}')
    assert (r.installer, r.installer_version) == ("pipenv", "2024.0.1")


def test_prefix_fills_a_missing_installer() -> None:
    r = parse('pip/24.0 {"python":"3.12.1","cpu":"x86_64"}')
    assert (r.installer, r.installer_version, r.python, r.cpu) == ("pip", "24.0", "3.12.1", "x86_64")


def test_unknown_keys_are_ignored() -> None:
    r = parse('pip/24.0 {"user_data":{"x":1},"python":"3.12.1","future":[1,2]}')
    assert (r.installer, r.python) == ("pip", "3.12.1")


@pytest.mark.parametrize(
    "blob",
    [
        '{"python":3.8,"cpu":"x86_64","ci":"yes"}',
        '{"python":["3"],"cpu":"x86_64","ci":1,"distro":"Ubuntu"}',
        '{"installer":"pip","cpu":"x86_64","system":{"name":5}}',
    ],
)
def test_wrongly_typed_fields_are_dropped_not_the_blob(blob: str) -> None:
    r = parse("pip/20.0 " + blob)
    assert (r.category, r.installer, r.installer_version, r.cpu) == (
        "installer",
        "pip",
        "20.0",
        "x86_64",
    )
    assert r.python is None
    assert r.ci is None


def test_subcommand_with_wrong_element_type_is_dropped() -> None:
    r = parse('uv/0.5.0 {"installer":{"name":"uv","subcommand":["pip",3]},"cpu":"arm64"}')
    assert (r.subcommand, r.cpu) == (None, "arm64")


def test_truncated_blob_keeps_complete_members() -> None:
    full = json.loads(UV.split(" ", 1)[1])
    text = UV[: UV.index('"cpu"') + 9]  # cut inside the cpu value
    r = parse(text)
    assert (r.installer, r.subcommand, r.libc) == ("uv", "pip install", "musl")
    assert r.system_release == full["system"]["release"]
    assert r.cpu is None


def test_trailing_product_after_blob() -> None:
    r = parse('Hatch/1.13.0 {"installer":{"name":"hatch","version":"1.13.0"},"cpu":"arm64"} HTTPX/0.27.2')
    assert (r.installer, r.cpu) == ("hatch", "arm64")


@pytest.mark.parametrize("blob", ["{", "{]", '{"a', "{}}}}", "{,,,}", '{"python":"3.1'])
def test_broken_blobs_never_raise(blob: str) -> None:
    r = parse("pip/22.0 " + blob)
    assert (r.installer, r.installer_version) == ("pip", "22.0")


@pytest.mark.parametrize(
    "parts",
    [[], ["sync"], ["pip", "install"], ["install", "a b"], ["x", ""], ["it's"], ["a=1,b/c"]],
)
def test_join_subcommand_matches_shlex(parts: list[str]) -> None:
    assert join_subcommand(parts) == shlex.join(parts)


def test_subcommand_is_capped() -> None:
    parts = ["'"] * 2000
    assert len(join_subcommand(parts)) == 1024
