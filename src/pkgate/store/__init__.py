"""The store: DuckDB schema, the idempotent spool loader, and read access for insights."""

from pkgate.store.erase import erase
from pkgate.store.layout import ensure_schema
from pkgate.store.loader import Loader, connect
from pkgate.store.rows import insert_events
from pkgate.store.schema import EVENT_COLUMNS

__all__ = ["EVENT_COLUMNS", "Loader", "connect", "ensure_schema", "erase", "insert_events"]
