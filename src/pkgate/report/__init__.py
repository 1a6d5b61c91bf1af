"""Output of insight rows as a rich table, JSON or CSV."""

from pkgate.report.render import FORMATS, render_rows

__all__ = ["FORMATS", "render_rows"]
