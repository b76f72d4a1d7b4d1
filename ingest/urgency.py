"""How urgent each ticker's background and analysis work is: the four factors of the dynamic priority
(`stockhub.queues.dynamic_priority`), read for every ticker in a few bulk queries. Reads and maths, no writes."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from ingest.models import Bar, Ticker, Timeframe

if TYPE_CHECKING:
    from portfolios.selectors import HolderPosition

# Volatility from the newest 21 daily closes (20 log returns, about a trading month); fewer than 10 returns
# say too little about a ticker, so it counts 0.
VOLATILITY_RETURNS = 20
VOLATILITY_MIN_RETURNS = 10
TRADING_DAYS_PER_YEAR = 252
# Closes, age and volatility come from the bars of the last 45 days only: 21 sessions span about 30 calendar
# days, and the query then ranks a month of bars per ticker instead of its whole history. A held ticker with
# no bar that recent has its newest close read separately.
RECENT_BARS_DAYS = 45
# A holder seen within this many days counts as fully active.
ACTIVE_WITHIN_DAYS = 1.0
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class PriorityFactors:
    """A ticker's factors, each 0..1 with 1 the most urgent: the keyword arguments of dynamic_priority."""

    activity: float
    value: float
    age: float
    volatility: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def priority_factors(*, now: datetime) -> dict[int, PriorityFactors]:
    """ticker id -> its factors at `now`, for every ticker (three or four queries, whatever the count).

    activity: 1 when a holder logged in within the last day, falling linearly to 0 at
    STOCKHUB_PRIORITY_ACTIVITY_DAYS; no holder (or none who ever logged in) = 0.
    value: the ticker's largest share of one portfolio's value (quantity x newest daily close; a holding
    without a close is worth 0).
    age: the newest daily bar's age over STOCKHUB_PRIORITY_AGE_DAYS, capped at 1; no bar = 1.
    volatility: annualised standard deviation of the last 20 daily log returns over
    STOCKHUB_PRIORITY_VOLATILITY_CAP, capped at 1; fewer than 10 returns = 0.
    """
    # Imported here: portfolios is built on ingest, so ingest's modules never import it at load time.
    from portfolios.selectors import holder_positions

    ticker_ids = list(Ticker.objects.order_by().values_list("id", flat=True))
    positions = holder_positions()
    recent = _recent_daily_closes(now=now)
    closes = {ticker_id: bars[-1][1] for ticker_id, bars in recent.items()}
    closes |= _newest_closes(ticker_ids={p.ticker_id for p in positions} - closes.keys(), now=now)
    activity: dict[int, float] = defaultdict(float)
    for position in positions:
        seen = _activity(last_login=position.owner_last_login, now=now)
        activity[position.ticker_id] = max(activity[position.ticker_id], seen)
    value = _largest_shares(positions=positions, closes=closes)
    return {
        ticker_id: PriorityFactors(
            activity=activity.get(ticker_id, 0.0),
            value=value.get(ticker_id, 0.0),
            age=_age(newest=recent[ticker_id][-1][0] if ticker_id in recent else None, now=now),
            volatility=_volatility(closes=[close for _, close in recent.get(ticker_id, [])]),
        )
        for ticker_id in ticker_ids
    }


def _recent_daily_closes(*, now: datetime) -> dict[int, list[tuple[datetime, float]]]:
    """ticker id -> (ts, close) of its newest 21 daily bars of the recent window, oldest first (one query)."""
    # At least the age horizon, so a ticker with no bar in the window is one whose age factor is 1 anyway.
    days = max(RECENT_BARS_DAYS, settings.STOCKHUB_PRIORITY_AGE_DAYS)
    rows = (
        Bar.objects.filter(
            timeframe=Timeframe.DAILY, ts__gt=now - timedelta(days=days), ts__lte=now, close__gt=0
        )
        .annotate(rank=Window(RowNumber(), partition_by=F("ticker_id"), order_by=F("ts").desc()))
        .filter(rank__lte=VOLATILITY_RETURNS + 1)
        .order_by("ticker_id", "ts")
        .values_list("ticker_id", "ts", "close")
    )
    bars: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    for ticker_id, ts, close in rows:
        bars[ticker_id].append((ts, close))
    return bars


def _newest_closes(*, ticker_ids: set[int], now: datetime) -> dict[int, float]:
    """ticker id -> its newest daily close up to `now`, for tickers whose bars all predate the recent window."""
    if not ticker_ids:
        return {}
    rows = (
        Bar.objects.filter(ticker_id__in=ticker_ids, timeframe=Timeframe.DAILY, ts__lte=now, close__gt=0)
        .annotate(rank=Window(RowNumber(), partition_by=F("ticker_id"), order_by=F("ts").desc()))
        .filter(rank=1)
        .values_list("ticker_id", "close")
    )
    return dict(rows)


def _activity(*, last_login: datetime | None, now: datetime) -> float:
    if last_login is None:
        return 0.0
    days = (now - last_login).total_seconds() / SECONDS_PER_DAY
    horizon = settings.STOCKHUB_PRIORITY_ACTIVITY_DAYS
    if days <= ACTIVE_WITHIN_DAYS:
        return 1.0
    if horizon <= ACTIVE_WITHIN_DAYS:
        return 0.0
    return _unit((horizon - days) / (horizon - ACTIVE_WITHIN_DAYS))


def _largest_shares(*, positions: list[HolderPosition], closes: dict[int, float]) -> dict[int, float]:
    worth = [float(position.quantity) * closes.get(position.ticker_id, 0.0) for position in positions]
    totals: dict[int, float] = defaultdict(float)
    for position, amount in zip(positions, worth, strict=True):
        totals[position.portfolio_id] += amount
    shares: dict[int, float] = defaultdict(float)
    for position, amount in zip(positions, worth, strict=True):
        total = totals[position.portfolio_id]
        if total > 0:
            shares[position.ticker_id] = max(shares[position.ticker_id], _unit(amount / total))
    return shares


def _age(*, newest: datetime | None, now: datetime) -> float:
    if newest is None:
        return 1.0
    days = (now - newest).total_seconds() / SECONDS_PER_DAY
    return _unit(days / settings.STOCKHUB_PRIORITY_AGE_DAYS)


def _volatility(*, closes: list[float]) -> float:
    returns = [math.log(later / earlier) for earlier, later in pairwise(closes)]
    if len(returns) < VOLATILITY_MIN_RETURNS:
        return 0.0
    annualised = statistics.stdev(returns) * math.sqrt(TRADING_DAYS_PER_YEAR)
    return _unit(annualised / settings.STOCKHUB_PRIORITY_VOLATILITY_CAP)


def _unit(x: float) -> float:
    return min(max(x, 0.0), 1.0)
