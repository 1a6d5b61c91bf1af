"""conda, mamba, micromamba, pixi and rattler User-Agents (src/pkgate/enrich/ua/conda_tools.py).

The examples are the clients' own, from their published source and tests: conda's
`tests/test_user_agent.py` docstrings, rattler_networking's platform-string examples, pixi's
`pixi/<version>`; py-rattler 0.28's as sent to the gateway in tests/e2e/test_conda.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.enrich.ua import MAX_LEN, UserAgent, parse

CONDA_CLASSIC = (
    "conda/4.12.0.post61+7acaba230 requests/2.27.1 CPython/3.8.13 Linux/5.10.25-linuxkit debian/10 glibc/2.28"
)
CONDA_LIBMAMBA = CONDA_CLASSIC + " solver/libmamba conda-libmamba-solver/22.3.1 libmambapy/0.24.0"


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (
            CONDA_CLASSIC,
            UserAgent(
                "installer",
                "conda",
                "4.12.0.post61+7acaba230",
                implementation="CPython",
                implementation_version="3.8.13",
                python="3.8.13",
                system="Linux",
                system_release="5.10.25-linuxkit",
                distro="debian",
                distro_version="10",
                libc="glibc",
                libc_version="2.28",
            ),
        ),
        (
            CONDA_LIBMAMBA,
            UserAgent(
                "installer",
                "conda",
                "4.12.0.post61+7acaba230",
                implementation="CPython",
                implementation_version="3.8.13",
                python="3.8.13",
                system="Linux",
                system_release="5.10.25-linuxkit",
                distro="debian",
                distro_version="10",
                libc="glibc",
                libc_version="2.28",
                solver="libmamba",
            ),
        ),
        ("mamba/1.5.8", UserAgent("installer", "mamba", "1.5.8")),
        ("micromamba/2.0.5", UserAgent("installer", "micromamba", "2.0.5")),
        ("pixi/0.40.0", UserAgent("installer", "pixi", "0.40.0")),
        ("py-rattler/0.28.0", UserAgent("installer", "py-rattler", "0.28.0")),
        ("rattler-build/0.73.0", UserAgent("installer", "rattler-build", "0.73.0")),
        (
            "pixi/0.60.0 Linux/6.5.0 Ubuntu/22.04 rattler/0.40.3",
            UserAgent(
                "installer",
                "pixi",
                "0.60.0",
                implementation="rattler",
                implementation_version="0.40.3",
                system="Linux",
                system_release="6.5.0",
                distro="Ubuntu",
                distro_version="22.04",
            ),
        ),
        (
            "pixi/0.60.0 Darwin/25.2.0 OSX/26.2 rattler/0.40.3",
            UserAgent(
                "installer",
                "pixi",
                "0.60.0",
                implementation="rattler",
                implementation_version="0.40.3",
                system="Darwin",
                system_release="25.2.0",
                distro="macOS",
                distro_version="26.2",
            ),
        ),
        (
            "pixi/0.60.0 Windows/10.0.22631 rattler/0.40.3",
            UserAgent(
                "installer",
                "pixi",
                "0.60.0",
                implementation="rattler",
                implementation_version="0.40.3",
                system="Windows",
                system_release="10.0.22631",
            ),
        ),
        (  # a distro NAME with a space and a slash, as /etc/os-release has it
            "py-rattler/0.30.0 Linux/6.1.0 Debian GNU/Linux/12 rattler/0.40.3",
            UserAgent(
                "installer",
                "py-rattler",
                "0.30.0",
                implementation="rattler",
                implementation_version="0.40.3",
                system="Linux",
                system_release="6.1.0",
                distro="Debian GNU/Linux",
                distro_version="12",
            ),
        ),
    ],
)
def test_published_formats(ua: str, expected: UserAgent) -> None:
    assert parse(ua) == expected


def test_no_version_is_not_the_tool() -> None:
    assert parse("conda").category == "unknown"
    assert parse("pixi").category == "unknown"


_VERSION = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True)
_WORD = st.from_regex(r"[A-Za-z][A-Za-z0-9_.+-]{0,15}", fullmatch=True)


@given(
    _VERSION,
    _VERSION,
    st.sampled_from(["Linux", "Darwin", "Windows"]),
    _VERSION,
    _WORD,
    _VERSION,
    st.none() | st.sampled_from(["libmamba", "classic-ish", "rattler"]),
)
def test_conda_round_trip(
    conda: str, py: str, system: str, release: str, distro: str, distro_v: str, solver: str | None
) -> None:
    ua = f"conda/{conda} requests/2.31.0 CPython/{py} {system}/{release} {distro}/{distro_v} glibc/2.35"
    if solver:
        ua += f" solver/{solver} backend/1.0"
    got = parse(ua)
    assert (got.installer, got.installer_version, got.python) == ("conda", conda, py)
    assert (got.system, got.system_release, got.libc_version) == (system, release, "2.35")
    assert got.solver == solver


@given(
    st.sampled_from(["pixi", "py-rattler", "rattler-build"]),
    _VERSION,
    st.sampled_from(["Linux", "Darwin", "Windows"]),
    _VERSION,
    st.none() | st.tuples(st.lists(_WORD, min_size=1, max_size=3).map(" ".join), _VERSION),
    _VERSION,
)
def test_rattler_round_trip(
    tool: str, version: str, system: str, release: str, distro: tuple[str, str] | None, rattler: str
) -> None:
    middle = f" {distro[0]}/{distro[1]}" if distro else ""
    got = parse(f"{tool}/{version} {system}/{release}{middle} rattler/{rattler}")
    assert (got.installer, got.installer_version, got.implementation_version) == (tool, version, rattler)
    assert (got.system, got.system_release) == (system, release)
    if distro:
        assert got.distro_version == distro[1]
        assert got.distro in (distro[0], "macOS")
    else:
        assert got.distro is None


@given(
    st.sampled_from(["conda", "mamba", "micromamba", "pixi", "py-rattler", "rattler", "rattler-build"]),
    st.text(max_size=1500),
)
def test_never_raises(first: str, rest: str) -> None:
    got = parse(f"{first}/1.0 {rest}")
    assert got.category in ("installer", "unknown")
    for value in (
        got.installer_version,
        got.solver,
        got.distro,
        got.system_release,
        got.implementation_version,
    ):
        assert value is None or len(value) <= MAX_LEN
