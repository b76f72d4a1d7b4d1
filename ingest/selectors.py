"""Reads about market data: newest bars, freshness, active jobs. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Max, OuterRef, Subquery

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


@dataclass(frozen=True)
class PriorityFactors:
    """The four factors of stockhub.queues.dynamic_priority for one ticker, each 0..1 (1 = most urgent)."""

    activity: float  # how recently a holder logged in: 1 now, 0 after ACTIVITY_HORIZON
    value: float  # the ticker's largest share of a holder's portfolio value (by the last close)
    age: float  # how old the newest daily bar is, relative to AGE_HORIZON
    volatility: float  # annualised volatility of the last 20 daily returns, relative to VOLATILITY_FULL


ACTIVITY_HORIZON = timedelta(days=7)
AGE_HORIZON = timedelta(days=7)
VOLATILITY_FULL = 0.8  # 80 % a year counts as fully volatile
VOLATILITY_SESSIONS = 20


def priority_factors(*, ticker: Ticker, now: datetime) -> PriorityFactors:
    """Read from holdings, holders' last logins and the stored daily bars; a ticker nobody holds scores 0 on
    activity and value, so it sorts behind held ones."""
    last_login = ticker.holdings.aggregate(last=Max("portfolio__owner__last_login"))["last"]
    activity = 1 - (now - last_login) / ACTIVITY_HORIZON if last_login else 0.0
    closes = list(
        Bar.objects.filter(ticker=ticker, timeframe=Timeframe.DAILY)
        .order_by("-ts")
        .values_list("ts", "close")[: VOLATILITY_SESSIONS + 1]
    )
    age = (now - closes[0][0]) / AGE_HORIZON if closes else 1.0
    returns = np.diff(np.log([close for _, close in reversed(closes)]))
    volatility = float(np.std(returns, ddof=1) * np.sqrt(252) / VOLATILITY_FULL) if len(returns) > 1 else 0.0
    return PriorityFactors(
        activity=_unit(activity),
        value=_unit(_largest_portfolio_share(ticker)),
        age=_unit(age),
        volatility=_unit(volatility),
    )


def _largest_portfolio_share(ticker: Ticker) -> float:
    """Of the portfolios holding `ticker`, the largest share it has of one portfolio's value at last closes."""
    last_close = (
        Bar.objects.filter(ticker=OuterRef("ticker"), timeframe=Timeframe.DAILY)
        .order_by("-ts")
        .values("close")[:1]
    )
    shares = 0.0
    portfolio_ids = ticker.holdings.values_list("portfolio_id", flat=True)
    holdings = (
        ticker.holdings.model.objects.filter(portfolio_id__in=portfolio_ids)
        .annotate(close=Subquery(last_close))
        .values_list("portfolio_id", "ticker_id", "quantity", "close")
    )
    totals: dict[int, float] = {}
    mine: dict[int, float] = {}
    for portfolio_id, ticker_id, quantity, close in holdings:
        worth = float(quantity) * (close or 0.0)
        totals[portfolio_id] = totals.get(portfolio_id, 0.0) + worth
        if ticker_id == ticker.id:
            mine[portfolio_id] = mine.get(portfolio_id, 0.0) + worth
    for portfolio_id, worth in mine.items():
        if totals[portfolio_id] > 0:
            shares = max(shares, worth / totals[portfolio_id])
    return shares


def _unit(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)
