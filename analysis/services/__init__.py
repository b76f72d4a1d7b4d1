"""Writes and workflows of the analysis app: other apps and entry points call these."""

from analysis.services.analyze import (
    AnalysisResult,
    BatchResult,
    IndicatorResult,
    PatternResult,
    analyze_ticker,
    analyze_tickers,
    compute_indicators,
    detect_patterns,
)
from analysis.services.runs import PATTERN_CHANNEL, PATTERN_EVENT

__all__ = [
    "PATTERN_CHANNEL",
    "PATTERN_EVENT",
    "AnalysisResult",
    "BatchResult",
    "IndicatorResult",
    "PatternResult",
    "analyze_ticker",
    "analyze_tickers",
    "compute_indicators",
    "detect_patterns",
]
