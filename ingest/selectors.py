"""Reads about market data: newest bars and prices, freshness, active jobs. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from django.conf import settings
from django.db import models
from django.db.models import F, Max, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from ingest.market import Session, is_market_open, last_completed_session
from ingest.models import (
    ACTIVE_JOB_STATUSES,
    Bar,
    DataVersion,
    FetchJob,
    JobKind,
    JobStatus,
    Ticker,
    Timeframe,
)
from ingest.providers.aggregate import period_start


def newest_bar_times(*, ticker_ids: list[int], timeframe: str) -> dict[int, datetime]:
    """ticker id -> ts of its newest stored bar in `timeframe` (tickers without bars are absent)."""
    rows = (
        Bar.objects.filter(ticker_id__in=ticker_ids, timeframe=timeframe)
        .values("ticker_id")
        .annotate(newest=Max("ts"))
        .values_list("ticker_id", "newest")
    )
    return dict(rows)


def last_fetch_times(*, ticker_ids: list[int], timeframe: str) -> dict[int, datetime]:
    """ticker id -> when its last successful fetch in `timeframe` finished."""
    rows = (
        FetchJob.objects.filter(
            ticker_id__in=ticker_ids, timeframe=timeframe, kind=JobKind.FETCH_BARS, status=JobStatus.SUCCEEDED
        )
        .values("ticker_id")
        .annotate(last=Max("finished_at"))
        .values_list("ticker_id", "last")
    )
    return dict(rows)


def expected_newest_bar(*, timeframe: str, session: Session) -> pd.Timestamp:
    """The key of the newest bar a complete store holds once `session` has closed."""
    day = pd.Series([pd.Timestamp(session.day, tz="UTC")])
    if timeframe == Timeframe.HOURLY:
        return session.close - pd.Timedelta(hours=1)  # the last hourly bar starts within the final hour
    if timeframe == Timeframe.DAILY:
        return day[0]
    return period_start(day, timeframe)[0]


def stale_pairs(*, ticker_ids: list[int], timeframes: list[str], now: datetime) -> list[tuple[int, str]]:
    """(ticker id, timeframe) pairs whose data is stale at `now`.

    While the market is open: the last successful fetch is older than STOCKHUB_STALENESS_MINUTES (today's
    bars keep changing). Otherwise: the bar of the last completed session is missing.
    """
    market_open = is_market_open(now=now)
    session = last_completed_session(now=now)
    cutoff = now - timedelta(minutes=settings.STOCKHUB_STALENESS_MINUTES)
    stale = []
    for timeframe in timeframes:
        newest = newest_bar_times(ticker_ids=ticker_ids, timeframe=timeframe)
        expected = expected_newest_bar(timeframe=timeframe, session=session)
        fetched = last_fetch_times(ticker_ids=ticker_ids, timeframe=timeframe) if market_open else {}
        for ticker_id in ticker_ids:
            missing_session = ticker_id not in newest or pd.Timestamp(newest[ticker_id]) < expected
            fetched_long_ago = market_open and (ticker_id not in fetched or fetched[ticker_id] < cutoff)
            if missing_session or fetched_long_ago:
                stale.append((ticker_id, timeframe))
    return stale


def with_data_version_of(tickers: QuerySet[Ticker]) -> QuerySet[Ticker]:
    """`tickers`, each with `data_version`: how often its bars or indicators have changed (0: never)."""
    version = DataVersion.objects.filter(ticker_id=OuterRef("pk")).values("version")[:1]
    return tickers.annotate(data_version=Coalesce(Subquery(version), 0))


def bars_between(
    *, ticker: Ticker, timeframe: str, start: datetime | None, end: datetime | None, limit: int
) -> list[dict]:
    """Up to `limit` bars of `ticker`, oldest first, with start <= ts <= end (either bound optional).

    Without a start, the newest `limit` bars up to `end` (what a chart wants by default).
    """
    bars = Bar.objects.filter(ticker=ticker, timeframe=timeframe)
    if end is not None:
        bars = bars.filter(ts__lte=end)
    columns = ("ts", "open", "high", "low", "close", "volume")
    if start is not None:
        return list(bars.filter(ts__gte=start).order_by("ts").values(*columns)[:limit])
    return list(reversed(bars.order_by("-ts").values(*columns)[:limit]))


def ticker_queue(*, user=None, limit: int = 100) -> list[FetchJob]:
    """The newest add-ticker entries (the caller's own unless staff), active ones first."""
    entries = FetchJob.objects.filter(kind=JobKind.ADD_TICKER).select_related("ticker")
    if user is not None and not user.is_staff:
        entries = entries.filter(requested_by=user)
    active = entries.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).order_by(
        "priority", "created_at"
    )
    ended = entries.exclude(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).order_by("-created_at")
    return (list(active[:limit]) + list(ended[:limit]))[:limit]


class Freshness(models.TextChoices):
    """How current a ticker's data is, as a page shows it."""

    FRESH = "fresh", "fresh"
    REFRESHING = "refreshing", "refreshing"  # a fetch or add-ticker job is queued or running
    STALE = "stale", "stale"  # stale_pairs says so, and nothing is fetching it
    FAILED = "failed", "failed"  # its latest fetch failed, and nothing is fetching it again


FETCHING_KINDS = (JobKind.FETCH_BARS, JobKind.ADD_TICKER)


def ticker_freshness(*, ticker_ids: list[int], timeframe: str, now: datetime) -> dict[int, Freshness]:
    """ticker id -> Freshness in `timeframe`: refreshing over failed over stale over fresh.

    "failed" is the newest ended fetch of the ticker having failed, so a later success clears it.
    """
    jobs = FetchJob.objects.filter(ticker_id__in=ticker_ids, timeframe=timeframe, kind__in=FETCHING_KINDS)
    active = set(jobs.filter(status__in=ACTIVE_JOB_STATUSES).values_list("ticker_id", flat=True))
    newest_ended: dict[int, str] = {}
    ended = jobs.exclude(status__in=ACTIVE_JOB_STATUSES).exclude(status=JobStatus.CANCELLED)
    for ticker_id, status in ended.order_by("ticker_id", "-finished_at", "-id").values_list(
        "ticker_id", "status"
    ):
        newest_ended.setdefault(ticker_id, status)
    stale = {
        ticker_id for ticker_id, _ in stale_pairs(ticker_ids=ticker_ids, timeframes=[timeframe], now=now)
    }
    freshness = {}
    for ticker_id in ticker_ids:
        if ticker_id in active:
            freshness[ticker_id] = Freshness.REFRESHING
        elif newest_ended.get(ticker_id) == JobStatus.FAILED:
            freshness[ticker_id] = Freshness.FAILED
        elif ticker_id in stale:
            freshness[ticker_id] = Freshness.STALE
        else:
            freshness[ticker_id] = Freshness.FRESH
    return freshness


@dataclass(frozen=True)
class LastPrice:
    close: float
    ts: datetime
    change: float | None  # against the bar before; None with a single bar
    change_percent: float | None


def last_prices(*, ticker_ids: list[int], timeframe: str = Timeframe.DAILY) -> dict[int, LastPrice]:
    """ticker id -> its newest close and the change from the close before (one query for every ticker)."""
    newest_two = (
        Bar.objects.filter(ticker_id__in=ticker_ids, timeframe=timeframe)
        .annotate(rank=Window(RowNumber(), partition_by=F("ticker_id"), order_by=F("ts").desc()))
        .filter(rank__lte=2)
        .order_by("ticker_id", "-ts")
        .values_list("ticker_id", "ts", "close")
    )
    closes: dict[int, list[tuple[datetime, float]]] = {}
    for ticker_id, ts, close in newest_two:
        closes.setdefault(ticker_id, []).append((ts, close))
    prices = {}
    for ticker_id, rows in closes.items():
        (ts, close), previous = rows[0], (rows[1][1] if len(rows) > 1 else None)
        change = close - previous if previous else None
        prices[ticker_id] = LastPrice(
            close=close,
            ts=ts,
            change=change,
            change_percent=100.0 * change / previous if previous else None,
        )
    return prices


def active_jobs_for(*, user, limit: int = 50) -> list[FetchJob]:
    """The user's queued and running jobs (every job for staff), running first, then by priority and age."""
    jobs = FetchJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).select_related("ticker")
    if not user.is_staff:
        jobs = jobs.filter(requested_by=user)
    return list(jobs.order_by("-status", "priority", "created_at")[:limit])  # "running" > "queued"
