"""The analysis services: indicators and patterns of one ticker, or of many at once (bulk and benchmarks)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from analysis.errors import invalid_input
from analysis.services.runs import RunCounts, check_timeframe, run_batch, run_many
from ingest.models import Ticker
from ingest.services import UpsertCounts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndicatorResult:
    """rows: indicator rows new / updated / unchanged; full: the whole series was recomputed."""

    symbol: str
    timeframe: str
    full: bool
    bars_read: int
    rows: UpsertCounts
    seconds: float

    @property
    def rows_written(self) -> int:
        return self.rows.new + self.rows.updated


@dataclass(frozen=True)
class PatternResult:
    """events: new / updated / unchanged; removed: stored events a rescan no longer finds (a corrected
    bar); published: new events on the newest bars that Redis accepted after commit (0 when Redis is down,
    or while a caller's outer transaction is still open: they go out when it commits)."""

    symbol: str
    timeframe: str
    full: bool
    bars_read: int
    events: UpsertCounts
    removed: int
    published: int
    seconds: float

    @property
    def events_new(self) -> int:
        return self.events.new


@dataclass(frozen=True)
class AnalysisResult:
    indicators: IndicatorResult
    patterns: PatternResult
    seconds: float

    @property
    def rows_written(self) -> int:
        """Indicator rows written (new or changed): what a job row records as rows stored."""
        return self.indicators.rows_written

    def __str__(self) -> str:
        rows, events = self.indicators.rows, self.patterns.events
        return (
            f"{self.indicators.symbol} {self.indicators.timeframe}"
            f"{' (full)' if self.indicators.full else ''}: {self.indicators.bars_read} bars read; "
            f"indicator rows {rows.new} new, {rows.updated} updated; pattern events {events.new} new, "
            f"{events.updated} updated, {self.patterns.removed} removed, {self.patterns.published} published; "
            f"{self.seconds:.3f} s"
        )


@dataclass(frozen=True)
class BatchResult:
    tickers: int
    tickers_full: int
    bars_read: int
    rows: UpsertCounts
    events: UpsertCounts
    events_removed: int
    published: int
    seconds: float

    def as_dict(self) -> dict:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


def _run_one(*, ticker: Ticker, timeframe: str, full: bool, indicators: bool, patterns: bool) -> RunCounts:
    check_timeframe(timeframe)
    return run_batch(
        ticker_ids=[ticker.id],
        timeframe=timeframe,
        full=full,
        with_indicators=indicators,
        with_patterns=patterns,
    )


def _indicator_result(ticker: Ticker, timeframe: str, counts: RunCounts) -> IndicatorResult:
    return IndicatorResult(
        symbol=ticker.symbol,
        timeframe=timeframe,
        full=counts.tickers_full > 0,
        bars_read=counts.bars_read,
        rows=counts.rows,
        seconds=counts.seconds_loading + counts.seconds_indicators,
    )


def _pattern_result(ticker: Ticker, timeframe: str, counts: RunCounts) -> PatternResult:
    return PatternResult(
        symbol=ticker.symbol,
        timeframe=timeframe,
        full=counts.tickers_full > 0,
        bars_read=counts.bars_read,
        events=counts.events,
        removed=counts.events_removed,
        published=counts.published,
        seconds=counts.seconds_patterns,
    )


def compute_indicators(*, ticker: Ticker, timeframe: str, full: bool = False) -> IndicatorResult:
    """Compute and store the indicators of a ticker's bars: only the tail since the last run unless `full`.

    Rows equal a full recompute either way (within 1e-12 relative); running it twice changes nothing.
    """
    counts = _run_one(ticker=ticker, timeframe=timeframe, full=full, indicators=True, patterns=False)
    result = _indicator_result(ticker, timeframe, counts)
    logger.info(
        "indicators ticker=%s timeframe=%s full=%s rows=%s",
        ticker.symbol,
        timeframe,
        result.full,
        counts.rows,
    )
    return result


def detect_patterns(*, ticker: Ticker, timeframe: str, full: bool = False) -> PatternResult:
    """Detect and store a ticker's pattern events (the tail since the last scan unless `full`), and announce
    new ones on the newest bars on Redis after commit. Running it twice stores and announces nothing new."""
    counts = _run_one(ticker=ticker, timeframe=timeframe, full=full, indicators=False, patterns=True)
    result = _pattern_result(ticker, timeframe, counts)
    logger.info(
        "patterns ticker=%s timeframe=%s full=%s events=%s removed=%s published=%s",
        ticker.symbol,
        timeframe,
        result.full,
        counts.events,
        counts.events_removed,
        counts.published,
    )
    return result


def analyze_ticker(*, ticker_id: int, timeframe: str, full: bool = False) -> AnalysisResult:
    """compute_indicators and detect_patterns for one ticker, reading its bars once, in one transaction.

    What the analysis queue runs after a fetch stored new bars; safe to run again (a redelivery).
    """
    started = time.perf_counter()
    ticker = Ticker.objects.filter(id=ticker_id).first()
    if ticker is None:
        raise invalid_input(f"no ticker with id {ticker_id}")
    counts = _run_one(ticker=ticker, timeframe=timeframe, full=full, indicators=True, patterns=True)
    result = AnalysisResult(
        indicators=_indicator_result(ticker, timeframe, counts),
        patterns=_pattern_result(ticker, timeframe, counts),
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "analysed ticker=%s timeframe=%s full=%s bars=%s rows=%s events=%s published=%s seconds=%.3f",
        ticker.symbol,
        timeframe,
        result.indicators.full,
        counts.bars_read,
        counts.rows,
        counts.events,
        counts.published,
        result.seconds,
    )
    return result


def analyze_tickers(
    *,
    ticker_ids: list[int],
    timeframe: str,
    full: bool = False,
    patterns: bool = True,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """analyze_ticker for many tickers, in batches on `workers` database connections (PostgreSQL; one on
    SQLite). `patterns=False` computes indicators only. on_progress(done, total) after each batch."""
    check_timeframe(timeframe)
    started = time.perf_counter()
    counts = run_many(
        ticker_ids=list(ticker_ids),
        timeframe=timeframe,
        full=full,
        with_indicators=True,
        with_patterns=patterns,
        workers=workers,
        on_progress=on_progress,
    )
    result = BatchResult(
        tickers=counts.tickers,
        tickers_full=counts.tickers_full,
        bars_read=counts.bars_read,
        rows=counts.rows,
        events=counts.events,
        events_removed=counts.events_removed,
        published=counts.published,
        seconds=time.perf_counter() - started,
    )
    logger.info("analysed tickers=%s timeframe=%s %s", len(ticker_ids), timeframe, result.as_dict())
    return result
