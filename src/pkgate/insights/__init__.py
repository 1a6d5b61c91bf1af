"""Insights: one module per question, each a tested SQL function over the store."""

from pkgate.insights.downloads import DownloadRow, downloads

__all__ = ["DownloadRow", "downloads"]
