"""What each page shows, gathered from the apps' own selectors (reads only; the pages render it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from analysis import indicators
from analysis.selectors import visible_universes
from ingest.market import MarketStatus, market_status
from ingest.models import ACTIVE_RUN_STATUSES, PHASE_ORDER, FetchJob, PipelineRun, SymbolStatus, Timeframe
from ingest.monitoring import QueueReport, queue_report
from ingest.run_progress import RunProgress, run_progress
from ingest.selectors import active_jobs_for, ticker_queue
from ingest.services.schedule import DailySchedule, daily_schedule
from ingest.services.ticker_queue import PHASES as TICKER_PHASES
from portfolios.selectors import PortfolioOverview, portfolio_overview

HISTORY_DAYS = 14
HISTORY_ROWS = 50
FAILURES_SHOWN = 200  # the API lists up to 500; a page with more than this is unreadable anyway
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Dashboard:
    portfolios: list[PortfolioOverview]
    jobs: list[FetchJob]  # the user's queued and running jobs
    ticker_entries: list[FetchJob]  # the user's add-ticker entries, active first
    ticker_phases: int


def dashboard(*, user, now: datetime) -> Dashboard:
    return Dashboard(
        portfolios=portfolio_overview(user=user, now=now),
        jobs=active_jobs_for(user=user),
        ticker_entries=ticker_queue(user=user, limit=20),
        ticker_phases=len(TICKER_PHASES),
    )


@dataclass(frozen=True)
class ChartIndicator:
    name: str  # as the indicators API takes it, e.g. bbands
    outputs: tuple[str, ...]  # its columns, e.g. bb_upper, bb_middle, bb_lower, bb_percent_b
    overlay: bool  # drawn over the candles (a price); else in the pane below


@dataclass(frozen=True)
class Chart:
    symbol: str
    timeframes: list[str]
    indicators: list[ChartIndicator]
    chosen: tuple[str, ...]  # ticked when the page opens


# Indicators in price units, drawn over the candles; the rest (RSI, MACD, ...) get the pane below.
OVERLAYS = ("sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "bbands", "vwap")
DEFAULT_CHOSEN = ("sma_50", "sma_200", "rsi_14")


def chart(*, symbol: str) -> Chart:
    return Chart(
        symbol=symbol,
        timeframes=list(Timeframe.values),
        indicators=[
            ChartIndicator(name=indicator.name, outputs=indicator.outputs, overlay=indicator.name in OVERLAYS)
            for indicator in indicators.INDICATORS.values()
        ],
        chosen=DEFAULT_CHOSEN,
    )


@dataclass(frozen=True)
class Failure:
    symbol: str
    phase: str
    error_code: str
    error_message: str
    attempts: int


@dataclass(frozen=True)
class Pipeline:
    current: RunProgress | None  # the running run, else the newest
    current_message: str
    failures: list[Failure]
    history: list[RunProgress]
    schedule: DailySchedule
    market: MarketStatus
    universes: list[str]
    phases: tuple[str, ...]
    timeframes: list[str]
    weekdays: tuple[str, ...]


def pipeline(*, user, now: datetime) -> Pipeline:
    runs = PipelineRun.objects.select_related("universe")
    current = runs.filter(status__in=ACTIVE_RUN_STATUSES).first() or runs.first()
    return Pipeline(
        current=run_progress(run=current, now=now) if current else None,
        current_message=current.message if current else "",
        failures=run_failures(run=current) if current else [],
        history=[
            run_progress(run=run, now=now)
            for run in runs.filter(created_at__gte=now - timedelta(days=HISTORY_DAYS))[:HISTORY_ROWS]
        ],
        schedule=daily_schedule(),
        market=market_status(now=now),
        universes=[universe.slug for universe in visible_universes(user=user)],
        phases=PHASE_ORDER,
        timeframes=list(Timeframe.values),
        weekdays=WEEKDAYS,
    )


def run_failures(*, run: PipelineRun) -> list[Failure]:
    rows = (
        run.symbols.filter(status=SymbolStatus.FAILED)
        .order_by("ticker__symbol")
        .values_list("ticker__symbol", "phase", "error_code", "error_message", "attempts")
    )
    return [Failure(*row) for row in rows[:FAILURES_SHOWN]]


@dataclass(frozen=True)
class Queues:
    report: QueueReport
    flower_url: str


def queues() -> Queues:
    return Queues(report=queue_report(), flower_url=settings.STOCKHUB_FLOWER_URL)
