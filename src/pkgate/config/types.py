"""The value types of config fields: ranges and formats declared once, with what an error says."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec

# A `description` is what an error says the value must be ("must be <description>, got ...").
Seconds = Annotated[float, msgspec.Meta(ge=0, description="seconds, not negative")]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, description="a positive number of seconds")]
Days = Annotated[int, msgspec.Meta(ge=0, description="a number of days, not negative")]
EnvVar = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([A-Za-z_][A-Za-z0-9_]{0,127})?\Z", description="the name of an environment variable"
    ),
]
Secret = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(|[\s\S]{16,})\Z",
        description="at least 16 characters (or empty)",
        extra={"secret": True},  # errors never echo the value
    ),
]
UpstreamName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}\Z",
        description="an upstream name: lowercase letters, digits, '-' or '_'",
    ),
]
ProjectPattern = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9._*?@/-]{1,200}\Z",
        description="a project name or a pattern (letters, digits, '.', '_', '-', '*', '?'; '@' and '/'"
        " for npm scopes and image repositories)",
    ),
]
#: The ecosystems whose upstreams and routing rules the config declares (plain files have their own
#: `[[files]]` table instead). An upstream and a rule belong to exactly one.
EcosystemName = Literal["python", "npm", "oci", "conda"]
ECOSYSTEMS: tuple[str, ...] = get_args(EcosystemName)

ProjectName = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,198}[A-Za-z0-9])?\Z", description="a project name"),
]

WebhookName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}\Z",
        description="a webhook name: lowercase letters, digits, '-' or '_'",
    ),
]
