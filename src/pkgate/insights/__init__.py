"""Insights: one module per question, each a tested SQL function over the store.

Every insight takes a DuckDB connection and a `Query` and returns a list of msgspec structs. They
read the daily rollups where `pkgate.store.rollups.refresh_rollups` has made them, and the raw
events elsewhere, with the same SQL, so results do not depend on when the rollups last ran.
"""

from pkgate.insights.adoption import AdoptionRow, FirstSeenRow, adoption, first_seen
from pkgate.insights.behaviour import (
    CLASSES,
    BehaviourRow,
    BehaviourSummaryRow,
    Features,
    Request,
    Thresholds,
    behaviour,
    behaviour_summary,
    classify,
    classify_features,
    features,
)
from pkgate.insights.breakdown import DIMENSIONS, BreakdownRow, breakdown
from pkgate.insights.downloads import DailyRow, DownloadRow, downloads, downloads_daily
from pkgate.insights.heavy_hitters import ConcentrationRow, HeavyHitterRow, concentration, heavy_hitters
from pkgate.insights.query import Query
from pkgate.insights.uniques import LEVELS, PERIODS, UniqueRow, uniques

__all__ = [
    "CLASSES",
    "DIMENSIONS",
    "LEVELS",
    "PERIODS",
    "AdoptionRow",
    "BehaviourRow",
    "BehaviourSummaryRow",
    "BreakdownRow",
    "ConcentrationRow",
    "DailyRow",
    "DownloadRow",
    "Features",
    "FirstSeenRow",
    "HeavyHitterRow",
    "Query",
    "Request",
    "Thresholds",
    "UniqueRow",
    "adoption",
    "behaviour",
    "behaviour_summary",
    "breakdown",
    "classify",
    "classify_features",
    "concentration",
    "downloads",
    "downloads_daily",
    "features",
    "first_seen",
    "heavy_hitters",
    "uniques",
]
