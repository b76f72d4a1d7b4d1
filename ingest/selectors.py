"""Reads about market data: newest bars and prices, freshness, active jobs. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pandas as pd
from django.conf import settings
from django.db import connection, models
from django.utils.dateparse import parse_datetime

from ingest.market import Session, is_market_open, last_completed_session
from ingest.models import (
    ACTIVE_JOB_STATUSES,
    Bar,
    FetchJob,
    JobKind,
    JobStatus,
    Ticker,
    Timeframe,
)
from ingest.providers.aggregate import period_start


def expected_newest_bar(*, timeframe: str, session: Session) -> pd.Timestamp:
    """The key of the newest bar a complete store holds once `session` has closed."""
    day = pd.Series([pd.Timestamp(session.day, tz="UTC")])
    if timeframe == Timeframe.HOURLY:
        return session.close - pd.Timedelta(hours=1)  # the last hourly bar starts within the final hour
    if timeframe == Timeframe.DAILY:
        return day[0]
    return period_start(day, timeframe)[0]


@lru_cache(maxsize=64)
def _calendar_facts(timeframe: str, minute: pd.Timestamp, calendar: str) -> tuple[bool, pd.Timestamp]:
    """Whether the market is open in `minute`, and the newest bar a complete store holds then: the calendar
    answers per minute, and asking it costs ~0.4 ms, so each dashboard request of a minute after the first
    reuses the answer (`calendar` keys the setting it was asked under)."""
    session = last_completed_session(now=minute)
    return is_market_open(now=minute), expected_newest_bar(timeframe=timeframe, session=session)


@dataclass(frozen=True)
class StaleRule:
    """When one timeframe's data counts as stale at one moment (stale_pairs says what that means)."""

    market_open: bool
    expected: pd.Timestamp  # the newest bar a complete store holds
    cutoff: datetime  # a last successful fetch before this is too old to count

    @classmethod
    def at(cls, *, timeframe: str, now: datetime) -> StaleRule:
        market_open, expected = _calendar_facts(
            str(timeframe), pd.Timestamp(now).floor("min"), settings.STOCKHUB_MARKET_CALENDAR
        )
        cutoff = now - timedelta(minutes=settings.STOCKHUB_STALENESS_MINUTES)
        return cls(market_open=market_open, expected=expected, cutoff=cutoff)

    def may_be_stale(self, *, newest: datetime | None) -> bool:
        """Whether the newest bar alone leaves the data open to refreshing: the market is open (today's bars
        keep changing) or the bar of the last completed session is missing."""
        return self.market_open or newest is None or pd.Timestamp(newest) < self.expected

    def is_stale(self, *, newest: datetime | None, fetched: datetime | None) -> bool:
        """`newest`: the ticker's newest bar's ts; `fetched`: when its last successful fetch finished."""
        return self.may_be_stale(newest=newest) and (fetched is None or fetched < self.cutoff)


def stale_pairs(*, ticker_ids: list[int], timeframes: list[str], now: datetime) -> list[tuple[int, str]]:
    """(ticker id, timeframe) pairs whose data is stale at `now`: the market is open or the bar of the last
    completed session is missing, and no fetch succeeded within STOCKHUB_STALENESS_MINUTES.

    A recent success counts even when the provider had nothing newer (a delisted or halted ticker, a provider
    that publishes late): asking it again at every login of every holder would only spend its rate limit.
    """
    if not ticker_ids:
        return []
    stale = []
    for timeframe in timeframes:
        rule = StaleRule.at(timeframe=timeframe, now=now)
        stale += [
            (ticker_id, timeframe)
            for ticker_id, newest, fetched in _newest_bars_and_fetches(
                ticker_ids=ticker_ids, timeframe=timeframe
            )
            if rule.is_stale(newest=newest, fetched=fetched)
        ]
    return stale


def _newest_bars_and_fetches(
    *, ticker_ids: list[int], timeframe: str
) -> list[tuple[int, datetime | None, datetime | None]]:
    """(ticker id, its newest bar's ts, when its last successful fetch up to the present finished) in
    `timeframe`. One query, written out: a login asks it, and two ORM queries cost ~10 ms of its ~30."""
    params = _ids_params(ticker_ids) | _fetch_params(timeframe)
    sql = (
        f"SELECT t.id, {_NEWEST_BAR_SQL}, {_LAST_SUCCESS_SQL.format(has_end=_HAS_END_SQL[connection.vendor])}"
        f" FROM ingest_ticker t WHERE t.id IN ({_ids_placeholders(ticker_ids)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    position = {ticker_id: n for n, ticker_id in enumerate(ticker_ids)}  # the caller's order, as asked
    return [
        (ticker_id, _db_datetime(newest), _db_datetime(fetched))
        for ticker_id, newest, fetched in sorted(rows, key=lambda row: position[row[0]])
    ]


def ticker_with_data_version(*, symbol: str) -> Ticker | None:
    """The ticker of `symbol` (normalised), with only id and symbol loaded and `data_version` set: how often
    its bars or indicators have changed (0: never). Written out because the bars and indicators endpoints ask
    it on every request: ~0.03 ms of CPU, where the same query built from querysets took ~0.5 ms."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.id, t.symbol, COALESCE(v.version, 0) FROM ingest_ticker t"
            " LEFT JOIN ingest_dataversion v ON v.ticker_id = t.id WHERE t.symbol = %s",
            [symbol],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    ticker = Ticker.from_db(connection.alias, ["id", "symbol"], row[:2])
    ticker.data_version = row[2]
    return ticker


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


# Per ticker, a few index lookups (never a scan of its history). Written out rather than built with the ORM:
# compiling the same query from querysets cost ~2 ms of CPU per dashboard request, running it ~0.1 ms.
# The freshness facts stale_pairs also reads: the newest bar in the timeframe, and when the last successful
# fetch up to the present ended (a job whose params hold "end" fetched a past window).
_NEWEST_BAR_SQL = """(SELECT b.ts FROM ingest_bar b WHERE b.ticker_id = t.id AND b.timeframe = %(timeframe)s
     ORDER BY b.ts DESC LIMIT 1)"""
_LAST_SUCCESS_SQL = """(SELECT MAX(j.finished_at) FROM ingest_fetchjob j WHERE j.ticker_id = t.id
        AND j.timeframe = %(timeframe)s AND j.kind = %(fetch)s AND j.status = %(succeeded)s AND NOT {has_end})"""
_HAS_END_SQL = {"postgresql": "(j.params ? 'end')", "sqlite": "(json_type(j.params, '$.end') IS NOT NULL)"}
_STATES_SQL = f"""
SELECT t.id,
    (SELECT b.ts FROM ingest_bar b WHERE b.ticker_id = t.id AND b.timeframe = %(daily)s
     ORDER BY b.ts DESC LIMIT 1),
    (SELECT b.close FROM ingest_bar b WHERE b.ticker_id = t.id AND b.timeframe = %(daily)s
     ORDER BY b.ts DESC LIMIT 1),
    (SELECT b.close FROM ingest_bar b WHERE b.ticker_id = t.id AND b.timeframe = %(daily)s
     ORDER BY b.ts DESC LIMIT 1 OFFSET 1),
    {_NEWEST_BAR_SQL},
    EXISTS (SELECT 1 FROM ingest_fetchjob j WHERE j.ticker_id = t.id AND j.timeframe = %(timeframe)s
        AND j.kind IN (%(fetch)s, %(add)s) AND j.status IN (%(queued)s, %(running)s)),
    (SELECT j.status FROM ingest_fetchjob j WHERE j.ticker_id = t.id AND j.timeframe = %(timeframe)s
        AND j.kind IN (%(fetch)s, %(add)s) AND j.status NOT IN (%(queued)s, %(running)s, %(cancelled)s)
     ORDER BY j.finished_at DESC, j.id DESC LIMIT 1),
    {_LAST_SUCCESS_SQL}
FROM ingest_ticker t WHERE t.id IN ({{ids}})
"""


def _ids_params(ticker_ids: list[int]) -> dict[str, int]:
    return {f"id{n}": int(ticker_id) for n, ticker_id in enumerate(ticker_ids)}


def _ids_placeholders(ticker_ids: list[int]) -> str:
    return ", ".join(f"%(id{n})s" for n in range(len(ticker_ids)))


def _fetch_params(timeframe: str) -> dict[str, str]:
    return {
        "timeframe": str(timeframe),
        "fetch": JobKind.FETCH_BARS.value,
        "succeeded": JobStatus.SUCCEEDED.value,
    }


def ticker_states(*, ticker_ids: list[int], timeframe: str, now: datetime) -> dict[int, TickerState]:
    """ticker id -> its newest daily close (and the change from the close before) and its Freshness in
    `timeframe`: refreshing over failed over stale over fresh, "failed" meaning the newest ended fetch failed
    (a later success clears it). One query."""
    if not ticker_ids:
        return {}
    rule = StaleRule.at(timeframe=timeframe, now=now)
    params = _ids_params(ticker_ids) | _fetch_params(timeframe)
    params |= {
        "daily": Timeframe.DAILY.value, "add": JobKind.ADD_TICKER.value, "queued": JobStatus.QUEUED.value,
        "running": JobStatus.RUNNING.value, "cancelled": JobStatus.CANCELLED.value,
    }  # fmt: skip
    sql = _STATES_SQL.format(ids=_ids_placeholders(ticker_ids), has_end=_HAS_END_SQL[connection.vendor])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    states = {}
    for ticker_id, ts, close, previous, newest, fetching, last_ended, fetched in rows:
        ts, newest, fetched = _db_datetime(ts), _db_datetime(newest), _db_datetime(fetched)
        if fetching:
            freshness = Freshness.REFRESHING
        elif last_ended == JobStatus.FAILED:
            freshness = Freshness.FAILED
        elif rule.is_stale(newest=newest, fetched=fetched):
            freshness = Freshness.STALE
        else:
            freshness = Freshness.FRESH
        states[ticker_id] = TickerState(price=_last_price(ts, close, previous), freshness=freshness)
    return states


def _db_datetime(value: datetime | str | None) -> datetime | None:
    """A timestamp as a cursor returns it: aware from PostgreSQL; from SQLite, UTC as naive or as text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


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
