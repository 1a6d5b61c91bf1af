"""Alerts to webhooks: evaluated by the loader (or `pkgate collect`), never on a request's path.

Every `alerts.interval` the loader thread calls `AlertRunner.maybe_run`: the rules
(`pkgate.insights.alerts`) propose alerts, the outbox (`pkgate.store.outbox`) keeps each (alert,
webhook) once, and the due deliveries are POSTed — at most `MAX_PER_RUN` per run, each within
`alerts.timeout`, so a dead webhook delays loading by seconds, not minutes. A failure (no answer,
or a status other than 2xx) is retried after 30 s, 60 s, 120 s, ... (capped at an hour) until
`alerts.retries` attempts; at most `alerts.max_per_hour` alerts go to one webhook per hour, the
rest wait. Redirects are not followed: the alert goes to the configured URL only.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import duckdb
import httpx
import msgspec

from pkgate.config import Alerts
from pkgate.insights.alerts import Alert, Rule, evaluate
from pkgate.store.outbox import Delivery, due, propose, record, sent_since

__all__ = ["BACKOFF_S", "AlertRunner", "body_for"]

log = logging.getLogger("pkgate.alerts")

BACKOFF_S: Final = 30.0
MAX_BACKOFF_S: Final = 3600.0
MAX_PER_RUN: Final = 20
_DISCORD_MAX: Final = 2000


def body_for(alert: Alert, fmt: str) -> dict[str, Any]:
    """The POST body of one alert: plain JSON, or Slack's / Discord's incoming-webhook shapes."""
    if fmt == "slack":
        text = f"*{alert.title}*\n{alert.text}"
        return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
    if fmt == "discord":
        fields = [{"name": k, "value": str(v)[:1024], "inline": True} for k, v in alert.fields.items()]
        return {
            "content": alert.title[:_DISCORD_MAX],
            "embeds": [{"title": alert.title[:256], "description": alert.text[:4096], "fields": fields[:25]}],
        }
    return {"source": "pkgate", "alert": alert.kind, **msgspec.to_builtins(alert)}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AlertRunner:
    """Evaluates `[alerts]` and delivers through the outbox; `now` is injectable for tests."""

    def __init__(self, cfg: Alerts, now: Callable[[], dt.datetime] = _utcnow) -> None:
        self.cfg = cfg
        self.now = now
        self.rules = [
            Rule(kind=r.kind, projects=tuple(r.projects), factor=r.factor, baseline_days=r.baseline_days,
                 min_downloads=r.min_downloads, max_file_per_day=r.max_file_per_day)
            for r in cfg.rules
        ]  # fmt: skip
        self._next = 0.0

    def maybe_run(self, connect: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        """Run when `alerts.interval` has passed since the last run (for the loader's loop)."""
        if not self.rules or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.cfg.interval
        con = connect()
        try:
            self.run(con)
        finally:
            con.close()

    def run(self, con: duckdb.DuckDBPyConnection) -> int:
        """Propose what the rules say, then attempt the due deliveries; returns how many were sent."""
        now = self.now()
        fresh = 0
        for i, alert in evaluate(con, self.rules, now.date()):
            hooks = self.cfg.rules[i].webhooks or sorted(self.cfg.webhooks)
            for name in hooks:
                body = msgspec.json.encode(body_for(alert, self.cfg.webhooks[name].format)).decode()
                fresh += propose(con, alert.key, name, alert.kind, alert.project, body, now)
        if fresh:
            log.info("alerts: %d new", fresh)
        return self.deliver(con, now)

    def deliver(self, con: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
        sent = 0
        budget: dict[str, int] = {}
        with httpx.Client(timeout=self.cfg.timeout, follow_redirects=False) as client:
            for d in due(con, now, MAX_PER_RUN):
                hook = self.cfg.webhooks.get(d.webhook)
                if hook is None:  # removed from the config since: give up on it, recorded
                    record(
                        con, d, now, status="failed", http_status=None, error="webhook no longer configured"
                    )
                    continue
                if d.webhook not in budget:
                    hour_ago = now - dt.timedelta(hours=1)
                    budget[d.webhook] = self.cfg.max_per_hour - sent_since(con, d.webhook, hour_ago)
                if budget[d.webhook] <= 0:
                    continue  # rate limited: stays pending for a later run
                ok = self._post(client, con, d, hook.url, now)
                budget[d.webhook] -= ok
                sent += ok
        return sent

    def _post(
        self, client: httpx.Client, con: duckdb.DuckDBPyConnection, d: Delivery, url: str, now: dt.datetime
    ) -> bool:
        status: int | None = None
        try:
            r = client.post(url, content=d.body, headers={"content-type": "application/json"})
            status = r.status_code
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        if error is None:
            record(con, d, now, status="sent", http_status=status, error=None)
            return True
        if d.attempts + 1 >= self.cfg.retries:
            log.warning("alert %s to %s failed for good: %s", d.key, d.webhook, error)
            record(con, d, now, status="failed", http_status=status, error=error)
            return False
        wait = min(MAX_BACKOFF_S, BACKOFF_S * 2**d.attempts)
        record(con, d, now, status="pending", http_status=status, error=error,
               next_attempt=now + dt.timedelta(seconds=wait))  # fmt: skip
        return False
