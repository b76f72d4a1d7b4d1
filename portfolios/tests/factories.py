"""Small builders for portfolios, holdings and bars in tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
from django.contrib.auth import get_user_model

from ingest.market import last_completed_session
from ingest.models import Bar, FetchJob, JobKind, JobStatus, Ticker
from portfolios.models import Holding, Portfolio
from stockhub.queues import Queue, Reason


def make_user(username: str = "alice", *, staff: bool = False):
    return get_user_model().objects.create_user(
        username=username, password="pw-for-tests-only", is_staff=staff
    )


def make_portfolio(*, owner=None, name: str = "Main", symbols: list[str] = ()) -> Portfolio:
    portfolio = Portfolio.objects.create(owner=owner or make_user(), name=name)
    for symbol in symbols:
        ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
        Holding.objects.create(portfolio=portfolio, ticker=ticker, quantity=Decimal("10"))
    return portfolio


def make_fresh(symbol: str, *, now: datetime, fetched: bool = False) -> None:
    """Store the daily bar of the last completed session, so the ticker is fresh outside market hours; with
    `fetched`, also a successful daily fetch that ended at `now`, so it is fresh while the market is open
    too (a test that runs on the wall clock must pass at any hour)."""
    ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
    day = pd.Timestamp(last_completed_session(now=now).day, tz="UTC").to_pydatetime()
    Bar.objects.update_or_create(
        ticker=ticker,
        timeframe="daily",
        ts=day,
        defaults=dict(open=10, high=11, low=9, close=10.5, volume=100, source="test"),
    )
    if fetched:
        FetchJob.objects.create(
            ticker=ticker, kind=JobKind.FETCH_BARS, timeframe="daily", reason=Reason.SCHEDULED, priority=5,
            queue=Queue.BACKGROUND, status=JobStatus.SUCCEEDED, started_at=now, finished_at=now,
        )  # fmt: skip


def make_old_bar(symbol: str, *, now: datetime, days: int = 10) -> None:
    ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
    Bar.objects.create(
        ticker=ticker,
        timeframe="daily",
        ts=now - timedelta(days=days),
        open=10,
        high=11,
        low=9,
        close=10.5,
        volume=100,
        source="test",
    )
