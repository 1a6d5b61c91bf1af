"""Installers in product-token form: pip 1.4-5, poetry, pdm, twine, conda, setuptools..."""

from __future__ import annotations

import pytest

from pkgate.enrich.ua import UserAgent, parse


def test_pip_1_4_form() -> None:
    r = parse("pip/1.5rc1 PyPy/2.2.1 Linux/2.6.32-042stab061.2")
    assert (r.installer, r.installer_version) == ("pip", "1.5rc1")
    assert (r.implementation, r.implementation_version) == ("PyPy", "2.2.1")
    assert r.python is None  # PyPy's own version is not the Python version
    assert (r.system, r.system_release) == ("Linux", "2.6.32-042stab061.2")


def test_placeholders_become_none() -> None:
    r = parse("pip/1.5.6 Unknown/Unknown Unknown/Unknown")
    assert (r.installer, r.implementation, r.python, r.system, r.system_release) == (
        "pip",
        None,
        None,
        None,
        None,
    )


def test_bare_pip_word_is_not_pip() -> None:
    assert parse("pip") == UserAgent("unknown", raw="pip")  # pip always sends its version


@pytest.mark.parametrize(
    ("ua", "installer", "version", "system"),
    [
        ("poetry/2.0.1 CPython/3.12.7 Darwin/24.1.0", "poetry", "2.0.1", "Darwin"),
        ("pdm/2.22.1 CPython/3.13.0 Windows/11", "pdm", "2.22.1", "Windows"),
        ("pipenv/2024.4.0 CPython/3.11.4 Linux/6.1.0", "pipenv", "2024.4.0", "Linux"),
        ("twine/6.0.1 CPython/3.12.0", "twine", "6.0.1", None),
        ("pixi/0.39.0", "pixi", "0.39.0", None),
        ("rattler/0.28.0", "rattler", "0.28.0", None),  # the library (pixi, py-rattler, ...), not pixi
        ("micromamba/1.5.8", "micromamba", "1.5.8", None),
        ("pex/2.20.0", "pex", "2.20.0", None),
        ("maturin/1.7.4", "maturin", "1.7.4", None),
        ("zc.buildout/3.0.1", "buildout", "3.0.1", None),
    ],
)
def test_tools(ua: str, installer: str, version: str, system: str | None) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version, r.system) == (
        "installer",
        installer,
        version,
        system,
    )


def test_conda_long_form() -> None:
    r = parse(
        "conda/24.7.1 requests/2.32.3 CPython/3.12.4 Linux/6.5.0-1025-azure ubuntu/22.04.4 "
        "glibc/2.35 solver/libmamba conda-libmamba-solver/24.7.0 libmambapy/1.5.8"
    )
    assert (r.installer, r.installer_version, r.python) == ("conda", "24.7.1", "3.12.4")
    assert (r.system, r.system_release) == ("Linux", "6.5.0-1025-azure")
    assert (r.distro, r.distro_version, r.libc, r.libc_version) == (
        "ubuntu",
        "22.04.4",
        "glibc",
        "2.35",
    )


def test_mamba_on_macos_distro_is_normalised() -> None:
    r = parse("mamba/1.5.8 conda/24.5.0 requests/2.32.2 CPython/3.11.9 Darwin/23.5.0 OSX/14.5")
    assert (r.installer, r.distro, r.distro_version) == ("mamba", "macOS", "14.5")


@pytest.mark.parametrize(
    ("ua", "installer", "version", "python"),
    [
        ("setuptools/1.0 Python-urllib/3.6", "setuptools", "1.0", "3.6"),
        ("Python-urllib/2.7 setuptools/0.9.8", "setuptools", "0.9.8", "2.7"),
        ("Python-urllib/2.6 distribute/0.6.10", "distribute", "0.6.10", "2.6"),
        ("easy_install/0.6c11", "setuptools", "0.6c11", None),
    ],
)
def test_setuptools_family(ua: str, installer: str, version: str, python: str | None) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version, r.python) == (
        "installer",
        installer,
        version,
        python,
    )
