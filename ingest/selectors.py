"""Reads about market data: newest bars, freshness, active jobs. No writes here."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from django.conf import settings
from django.db.models import Max

from ingest.market import Session, is_market_open, last_completed_session
from ingest.models import Bar, FetchJob, JobKind, JobStatus, Ticker, Timeframe
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
