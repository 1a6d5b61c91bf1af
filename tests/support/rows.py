"""The store's rows read back as events: what the `events` view gives, joined here in Python."""

from __future__ import annotations

from typing import Any

from pkgate.store.rows import Rows
from pkgate.store.schema import EVENT_COLUMNS


def joined(rows: Rows | None) -> list[dict[str, Any]]:
    """Each event row with its agent's columns, in `EVENT_COLUMNS` order, sorted by id; an event
    whose agent is missing from `rows.agents` fails."""
    if rows is None:
        return []
    agents = {a["agent"]: a for a in rows.agents.to_pylist()}
    out = []
    for event in rows.events.to_pylist():
        merged = {**event, **agents[event["agent"]]}
        out.append({name: merged[name] for name, _ in EVENT_COLUMNS})
    return sorted(out, key=lambda r: r["id"])
