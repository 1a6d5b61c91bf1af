"""What leaves pkgate on its own: public stats and badges (`[public]`), alerts (`[alerts]`)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from pkgate.config.types import PositiveSeconds, ProjectName, ProjectPattern, WebhookName


class Public(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Public stats and badges (no token), opt-in per project; see docs/public.md."""

    projects: list[ProjectName] = msgspec.field(default_factory=list)
    #: Cells (and complements) below this are suppressed.
    k: Annotated[int, msgspec.Meta(ge=2, le=1000, description="2..1000")] = 10
    #: Total differential-privacy budget of one release (every number of it together); 0: no noise.
    epsilon: Annotated[
        float, msgspec.Meta(ge=0, le=100, description="0 (off) or a positive budget, at most 100")
    ] = 0.0
    #: Installs one source-day may add to a release (more are not counted): the noise's sensitivity.
    max_installs: Annotated[int, msgspec.Meta(ge=1, le=1000, description="1..1000")] = 5
    #: Count mirrors, bots, CI and polling deploys too (excluded by default).
    include_automation: bool = False
    #: Cache-Control max-age of the public page, JSON and badges.
    cache_seconds: Annotated[int, msgspec.Meta(ge=0, le=86400, description="0..86400 seconds")] = 3600


class Webhook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where alerts go: a URL that gets a POST with a JSON body in one of three shapes."""

    url: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^https?://[^\s/?#@]+(/\S*)?\Z", description="an http(s) URL without credentials"
        ),
    ]
    format: Literal["json", "slack", "discord"] = "json"


class AlertRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One alert rule; `kind` says what it watches, the other keys tune it (docs/alerts.md)."""

    kind: Literal["spike", "drop", "new-org", "aggressive", "release"]
    projects: Annotated[
        list[ProjectPattern],
        msgspec.Meta(min_length=1, description="a list of at least one project name or pattern"),
    ] = msgspec.field(default_factory=lambda: ["*"])
    #: spike: downloads of a day >= factor x the trailing mean; drop: <= mean / factor.
    factor: Annotated[float, msgspec.Meta(gt=1, le=1000, description="more than 1, at most 1000")] = 3.0
    baseline_days: Annotated[int, msgspec.Meta(ge=2, le=90, description="2..90 days")] = 7
    #: spike/drop: ignore days whose baseline mean (spike: the day itself) is below this.
    min_downloads: Annotated[int, msgspec.Meta(ge=0, description="not negative")] = 20
    #: aggressive: downloads of one file by one source in a day above this.
    max_file_per_day: Annotated[int, msgspec.Meta(ge=1, description="at least 1")] = 24
    #: release: report a new version's adoption after its first day (installs, share of the project's).
    webhooks: list[WebhookName] = msgspec.field(default_factory=list)


class Alerts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Alert rules and their webhooks, evaluated by the loader/collector, never on a request."""

    webhooks: dict[WebhookName, Webhook] = msgspec.field(default_factory=dict)
    rules: list[AlertRule] = msgspec.field(default_factory=list)
    #: Seconds between two evaluations (the loader checks after loading).
    interval: Annotated[float, msgspec.Meta(ge=1, description="at least 1 second")] = 300.0
    #: Rate limit: at most this many alerts sent per webhook per hour (the rest wait).
    max_per_hour: Annotated[int, msgspec.Meta(ge=1, le=3600, description="1..3600")] = 20
    #: Delivery attempts per alert before it is recorded as failed (with exponential backoff).
    retries: Annotated[int, msgspec.Meta(ge=1, le=20, description="1..20")] = 5
    timeout: PositiveSeconds = 10.0
