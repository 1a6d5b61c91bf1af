"""The sections of the ecosystems beyond Python: `[npm]`, `[oci]`, `[conda]` and `[[files]]`."""

from __future__ import annotations

from typing import Annotated

import msgspec

from pkgate.config.types import ProjectPattern


class Npm(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The npm registry API under `/npm/` (see docs/ecosystems.md)."""

    #: The upstream for npm packages no rule claims; "" serves only the names rules claim.
    default_upstream: str = ""


class Oci(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The OCI distribution API under `/v2/`."""

    #: The upstream for repositories no rule claims; "" serves only the repositories rules claim.
    default_upstream: str = ""


class Conda(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """conda channels under `/conda/`."""

    #: The upstream for packages no rule claims; "" serves only the packages rules claim.
    default_upstream: str = ""


class FileSource(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Plain files under `/dl/<name>/<version>/<file>`, redirected to `url` with the placeholders
    `{version}` and `{file}` filled in (see docs/ecosystems.md)."""

    name: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z",
            description="a name: letters, digits, '.', '_', '-'",
        ),
    ]
    url: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^https?://[^\s/?#{}]+/\S*\Z",
            description="an http(s) URL template with a fixed host, using {version} and {file}",
        ),
    ]
    #: `*`/`?` patterns a file name must match; anything else is a 404.
    files: list[ProjectPattern] = msgspec.field(default_factory=lambda: ["*"])
    #: `*`/`?` patterns a version must match.
    versions: list[ProjectPattern] = msgspec.field(default_factory=lambda: ["*"])
