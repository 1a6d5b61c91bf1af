"""Insights: one module per question, each a tested SQL function over the store."""

from pkgate.insights.downloads import DownloadRow, downloads
from pkgate.insights.query import Query

__all__ = ["DownloadRow", "Query", "downloads"]
