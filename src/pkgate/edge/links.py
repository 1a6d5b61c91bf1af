"""Signed file links: the gateway only ever redirects to a URL an upstream listed.

A rewritten link is `/files/<project>/<token>/<filename>` with
`token = b64url(upstream_url) "." b64url(HMAC-SHA256(secret, project NUL filename NUL url)[:16])`.
Any gateway of a fleet holding the secret verifies it without state; a tampered or invented link
fails verification and is answered 404. The filename stays the last path segment because pip and
uv take the distribution's filename from the URL.

Lock files keep these links for good, so a rotated secret must not break them: links are always
made with the current secret and verify under it or any retired one (`gateway.retired_secrets`).
Other ecosystems (npm) use `token()` inside paths of their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from pkgate.errors import LinkError

PREFIX: Final = "/files/"
METADATA_SUFFIX: Final = ".metadata"
#: A PEP 740 provenance link is signed for `<filename>.provenance` and the provenance URL itself.
PROVENANCE_SUFFIX: Final = ".provenance"
_MAC_BYTES: Final = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks file links under one secret. Nothing is memoised here: the gateway keeps
    each verified link's whole answer (`pkgate.edge.gateway`), a second memo would only double the
    memory."""

    def __init__(self, secret: bytes, retired: Sequence[bytes] = ()) -> None:
        if any(len(s) < 16 for s in (secret, *retired)):
            raise LinkError("link-signing secret must be at least 16 bytes")
        self._secret = secret
        self._retired = tuple(retired)  # verify only: links in old lock files

    def _mac(self, project: str, filename: str, url: str, secret: bytes | None = None) -> bytes:
        msg = f"{project}\0{filename}\0{url}".encode()
        return hmac.new(secret or self._secret, msg, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(self, project: str, filename: str, url: str) -> str:
        """The signed token of a link (the path segment `verify` checks)."""
        return f"{_b64(url.encode())}.{_b64(self._mac(project, filename, url))}"

    def make(self, project: str, filename: str, url: str) -> str:
        """Root-relative gateway path for an upstream file URL (no fragment)."""
        return f"{PREFIX}{project}/{self.token(project, filename, url)}/{quote(filename, safe='')}"

    def verify(self, project: str, token: str, filename: str) -> str:
        """The upstream URL signed into `token`, or LinkError if anything does not match."""
        enc_url, sep, enc_mac = token.partition(".")
        if not sep or not enc_url or not enc_mac or len(token) > 8192:
            raise LinkError("malformed file link")
        try:
            url = _unb64(enc_url).decode("utf-8")
            mac = _unb64(enc_mac)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise LinkError("malformed file link") from None
        if not hmac.compare_digest(mac, self._mac(project, filename, url)) and not any(
            hmac.compare_digest(mac, self._mac(project, filename, url, old)) for old in self._retired
        ):
            raise LinkError("file link signature does not verify")
        return url


def metadata_url(file_url: str) -> str:
    """PEP 658: the core metadata lives at the file URL with `.metadata` appended to its path."""
    parts = urlsplit(file_url)
    return urlunsplit(parts._replace(path=parts.path + METADATA_SUFFIX, fragment=""))
