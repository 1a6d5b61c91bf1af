"""Signed file links: round trip, tampering, malformed input."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.edge.links import PREFIX, LinkSigner, metadata_url
from pkgate.errors import LinkError

SIGNER = LinkSigner(b"0123456789abcdef-secret")
URL = "https://files.example.org/packages/ab/cd/six-1.16.0-py2.py3-none-any.whl"


def split(path: str) -> tuple[str, str, str]:
    project, token, filename = path[len(PREFIX) :].split("/")
    return project, token, unquote(filename)


def test_roundtrip() -> None:
    path = SIGNER.make("six", "six-1.16.0-py2.py3-none-any.whl", URL)
    assert path.startswith("/files/six/")
    assert path.endswith("/six-1.16.0-py2.py3-none-any.whl")
    assert SIGNER.verify(*split(path)) == URL


@pytest.mark.parametrize("part", [0, 1, 2])
def test_any_tampering_fails(part: int) -> None:
    parts = list(split(SIGNER.make("six", "six-1.16.0.tar.gz", URL)))
    parts[part] = parts[part][:-1] + ("x" if parts[part][-1] != "x" else "y")
    with pytest.raises(LinkError):
        SIGNER.verify(*parts)


def test_other_secret_fails() -> None:
    path = SIGNER.make("six", "six-1.16.0.tar.gz", URL)
    with pytest.raises(LinkError, match="signature"):
        LinkSigner(b"another-secret-of-16").verify(*split(path))


def test_made_up_url_fails() -> None:
    import base64

    evil = base64.urlsafe_b64encode(b"https://evil.example/x").rstrip(b"=").decode()
    with pytest.raises(LinkError):
        SIGNER.verify("six", f"{evil}.AAAAAAAAAAAAAAAAAAAAAA", "six-1.16.0.tar.gz")


def test_short_secret_rejected() -> None:
    with pytest.raises(LinkError, match="16 bytes"):
        LinkSigner(b"short")


def test_metadata_url() -> None:
    assert metadata_url("https://h/p/x.whl?a=1#frag") == "https://h/p/x.whl.metadata?a=1"


@given(st.text(max_size=300), st.text(max_size=100))
def test_verify_never_raises_other_errors(token: str, filename: str) -> None:
    try:
        SIGNER.verify("six", token, filename)
    except LinkError:
        pass
    else:
        pytest.fail("a random token verified")


@given(st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s), st.text(min_size=1, max_size=200))
def test_roundtrip_any_filename_and_url(filename: str, url: str) -> None:
    path = SIGNER.make("p", filename, url)
    assert SIGNER.verify(*split(path)) == url
