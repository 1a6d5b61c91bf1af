"""Reports: render insight rows (table, JSON, CSV, Parquet), the `report` command, event export."""

from pkgate.report.export import EXPORT_FORMATS, export_events
from pkgate.report.render import FORMATS, REPORT_FORMATS, render_rows, write_parquet

__all__ = ["EXPORT_FORMATS", "FORMATS", "REPORT_FORMATS", "export_events", "render_rows", "write_parquet"]
