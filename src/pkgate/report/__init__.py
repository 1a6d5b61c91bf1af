"""Reports: render insight rows (table, JSON, CSV, Parquet), the `report` topics, event export."""

from pkgate.report.export import EXPORT_FORMATS, export_events
from pkgate.report.render import FORMATS, REPORT_FORMATS, render_rows, write_parquet
from pkgate.report.topics import TOPICS, Options, Topic, columns

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "REPORT_FORMATS",
    "TOPICS",
    "Options",
    "Topic",
    "columns",
    "export_events",
    "render_rows",
    "write_parquet",
]
