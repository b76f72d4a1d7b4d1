"""Reads about market data: newest bars and prices, freshness, active jobs. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from django.conf import settings
from django.db import models
from django.db.models import Exists, F, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

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


@dataclass(frozen=True)
class StaleRule:
    """When one timeframe's data counts as stale at one moment (stale_pairs says what that means)."""

    market_open: bool
    expected: pd.Timestamp  # the newest bar a complete store holds
    cutoff: datetime  # while the market is open, a last successful fetch before this is too old

    @classmethod
    def at(cls, *, timeframe: str, now: datetime) -> StaleRule:
        return cls(
            market_open=is_market_open(now=now),
            expected=expected_newest_bar(timeframe=timeframe, session=last_completed_session(now=now)),
            cutoff=now - timedelta(minutes=settings.STOCKHUB_STALENESS_MINUTES),
        )

    def is_stale(self, *, newest: datetime | None, fetched: datetime | None) -> bool:
        """`newest`: the ticker's newest bar's ts; `fetched`: when its last successful fetch finished."""
        missing_session = newest is None or pd.Timestamp(newest) < self.expected
        return missing_session or (self.market_open and (fetched is None or fetched < self.cutoff))


def stale_pairs(*, ticker_ids: list[int], timeframes: list[str], now: datetime) -> list[tuple[int, str]]:
    """(ticker id, timeframe) pairs whose data is stale at `now`.

    While the market is open: the last successful fetch is older than STOCKHUB_STALENESS_MINUTES (today's
    bars keep changing). Otherwise: the bar of the last completed session is missing.
    """
    stale = []
    for timeframe in timeframes:
        rule = StaleRule.at(timeframe=timeframe, now=now)
        newest = newest_bar_times(ticker_ids=ticker_ids, timeframe=timeframe)
        fetched = last_fetch_times(ticker_ids=ticker_ids, timeframe=timeframe) if rule.market_open else {}
        stale += [
            (ticker_id, timeframe)
            for ticker_id in ticker_ids
            if rule.is_stale(newest=newest.get(ticker_id), fetched=fetched.get(ticker_id))
        ]
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


@dataclass(frozen=True)
class LastPrice:
    close: float
    ts: datetime
    change: float | None  # against the bar before; None with a single bar
    change_percent: float | None


@dataclass(frozen=True)
class TickerState:
    price: LastPrice | None  # newest daily close; None before any bar
    freshness: Freshness


def ticker_states(*, ticker_ids: list[int], timeframe: str, now: datetime) -> dict[int, TickerState]:
    """ticker id -> its newest daily close (and the change from the close before) and its Freshness in
    `timeframe`: refreshing over failed over stale over fresh, "failed" meaning the newest ended fetch failed
    (a later success clears it). One query: a few index lookups per ticker, never a scan of its history."""
    rule = StaleRule.at(timeframe=timeframe, now=now)
    daily = Bar.objects.filter(ticker_id=OuterRef("pk"), timeframe=Timeframe.DAILY).order_by("-ts")
    jobs = FetchJob.objects.filter(ticker_id=OuterRef("pk"), timeframe=timeframe, kind__in=FETCHING_KINDS)
    ended = jobs.exclude(status__in=[*ACTIVE_JOB_STATUSES, JobStatus.CANCELLED]).order_by(
        "-finished_at", "-id"
    )
    newest = Bar.objects.filter(ticker_id=OuterRef("pk"), timeframe=timeframe).order_by("-ts")
    fetched = FetchJob.objects.filter(
        ticker_id=OuterRef("pk"), timeframe=timeframe, kind=JobKind.FETCH_BARS, status=JobStatus.SUCCEEDED
    ).order_by(F("finished_at").desc(nulls_last=True))
    read = {
        "ts": Subquery(daily.values("ts")[:1]),
        "close": Subquery(daily.values("close")[:1]),
        "previous": Subquery(daily.values("close")[1:2]),
        "fetching": Exists(jobs.filter(status__in=ACTIVE_JOB_STATUSES)),
        "last_ended": Subquery(ended.values("status")[:1]),
    }
    if timeframe != Timeframe.DAILY:
        read["newest"] = Subquery(newest.values("ts")[:1])
    if rule.market_open:
        read["fetched"] = Subquery(fetched.values("finished_at")[:1])
    states = {}
    for row in Ticker.objects.filter(id__in=ticker_ids).order_by().annotate(**read).values("id", *read):
        if row["fetching"]:
            freshness = Freshness.REFRESHING
        elif row["last_ended"] == JobStatus.FAILED:
            freshness = Freshness.FAILED
        elif rule.is_stale(newest=row.get("newest", row["ts"]), fetched=row.get("fetched")):
            freshness = Freshness.STALE
        else:
            freshness = Freshness.FRESH
        price = _last_price(row["ts"], row["close"], row["previous"])
        states[row["id"]] = TickerState(price=price, freshness=freshness)
    return states


def _last_price(ts: datetime | None, close: float | None, previous: float | None) -> LastPrice | None:
    if ts is None:
        return None
    change = close - previous if previous else None
    return LastPrice(
        close=close, ts=ts, change=change, change_percent=100.0 * change / previous if previous else None
    )


def active_jobs_for(*, user, limit: int = 50) -> list[FetchJob]:
    """The user's queued and running jobs (every job for staff), running first, then by priority and age."""
    jobs = FetchJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).select_related("ticker")
    if not user.is_staff:
        jobs = jobs.filter(requested_by=user)
    return list(jobs.order_by("-status", "priority", "created_at")[:limit])  # "running" > "queued"
