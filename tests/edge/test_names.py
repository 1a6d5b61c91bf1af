"""Project names and distribution filenames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.edge.names import MAX_NAME_LENGTH, is_valid_project_name, normalize, parse_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("HolyGrail", "holygrail"),
        ("Silly_Walk", "silly-walk"),
        ("a.-_b", "a-b"),
        ("zope.interface", "zope-interface"),
        ("ALREADY-normal", "already-normal"),
    ],
)
def test_normalize_pep503(name: str, expected: str) -> None:
    assert normalize(name) == expected


@pytest.mark.parametrize("name", ["a", "A1", "foo-bar", "foo.bar_baz", "9lives", "x" * MAX_NAME_LENGTH])
def test_valid_names(name: str) -> None:
    assert is_valid_project_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-foo",
        "foo-",
        "foo bar",
        "foo/bar",
        "foo\n",  # `$` would match before a trailing newline; fullmatch does not
        "\u212aelvin",  # KELVIN SIGN: case-insensitive matching must not turn it into "k"
        "caf\u00e9",
        "x" * (MAX_NAME_LENGTH + 1),
        "..",
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_project_name(name)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        # wheels (names are normalised, versions PEP 440-normalised)
        ("Foo_Bar-1.0-py3-none-any.whl", ("foo-bar", "1.0")),
        ("pkg-2.0.0-1-cp311-cp311-manylinux_2_17_x86_64.whl", ("pkg", "2.0.0")),
        ("numpy-1.26.0rc1-cp312-cp312-win_amd64.whl", ("numpy", "1.26.0rc1")),
        ("pkg-01.0-py3-none-any.whl", ("pkg", "1.0")),
        # a wheel packaging rejects (non-PEP 440 version), read best-effort
        ("pkg-1.0.dev_r12-py2-none-any.whl", ("pkg", "1.0.dev_r12")),
        # modern sdists
        ("foo-1.0.tar.gz", ("foo", "1.0")),
        ("Foo.Bar-2.1.zip", ("foo-bar", "2.1")),
        ("foo-bar-1.0.tar.gz", ("foo-bar", "1.0")),
        ("FOO-1.0.TAR.GZ", ("foo", "1.0")),
        # legacy sdists: split at the last '-' before a digit
        ("foo-1.0-beta.tar.gz", ("foo", "1.0b0")),
        ("foo-1.0-weird.tar.gz", ("foo", "1.0-weird")),
        ("foo-1.0.tar.bz2", ("foo", "1.0")),
        ("foo-1.0.tgz", ("foo", "1.0")),
        ("foo-1.0.tar.xz", ("foo", "1.0")),
        ("foo-1.0.tar", ("foo", "1.0")),
        # eggs and installers
        ("foo-1.0-py2.7.egg", ("foo", "1.0")),
        ("foo_bar-1.0_beta-py2.7-linux_x86_64.egg", ("foo-bar", "1.0b0")),
        ("foo-1.0.win32-py2.7.exe", ("foo", "1.0")),
        ("foo-1.0.win-amd64-py3.4.exe", ("foo", "1.0")),
        ("foo-1.0.win32.msi", ("foo", "1.0")),
        ("pywin32-1.0.exe", ("pywin32", "1.0")),
    ],
)
def test_parse_filename(filename: str, expected: tuple[str, str]) -> None:
    assert parse_filename(filename) == expected


@pytest.mark.parametrize(
    "filename",
    [
        "",
        "foo.tar.gz",  # no version
        "foo-dev.tar.gz",  # no digit after any '-'
        "a b-1.0.tar.gz",  # packaging accepts the name "a b"; PEP 508 does not
        "a b-1.0-py3-none-any.whl",
        "foo-1.0.rpm",  # not a Python distribution format we read
        "foo-1.0.tar.gz.metadata",  # the caller strips .metadata, not us
        "dir/foo-1.0.tar.gz",
        "..\\foo-1.0.zip",
        "-1.0.tar.gz",
        "x-1.0.whl",  # wrong number of wheel parts
        "x" * 600 + "-1.0.tar.gz",
    ],
)
def test_parse_filename_hopeless(filename: str) -> None:
    assert parse_filename(filename) is None


_SUFFIXES = st.sampled_from(
    [".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".egg", ".exe", ".msi", ".TAR.GZ", ""]
)


@given(st.text(max_size=80), _SUFFIXES)
def test_parse_filename_never_raises(stem: str, suffix: str) -> None:
    result = parse_filename(stem + suffix)
    if result is not None:
        name, version = result
        assert is_valid_project_name(name)
        assert name == normalize(name)
        assert version


@given(
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True),
    st.sampled_from([".tar.gz", ".zip", ".tar.bz2", "-py3-none-any.whl"]),
)
def test_parse_filename_recovers_name_and_version(name: str, version: str, suffix: str) -> None:
    filename = f"{name.replace('-', '_') if suffix.endswith('.whl') else name}-{version}{suffix}"
    parsed = parse_filename(filename)
    assert parsed is not None
    # A name that itself ends in "-<digits>" is ambiguous; the version must still be a suffix.
    got_name, got_version = parsed
    if "-" not in name or not any(part[:1].isdigit() for part in name.split("-")[1:]):
        assert got_name == normalize(name)
    assert got_version.replace(".", "").isdigit()


@given(st.text(max_size=300))
def test_name_validity_is_total(name: str) -> None:
    valid = is_valid_project_name(name)
    assert isinstance(valid, bool)
    if valid:
        assert name.isascii()
        assert len(name) <= MAX_NAME_LENGTH
        assert is_valid_project_name(normalize(name))
