"""Freshness per ticker (fresh / refreshing / stale / failed) and the market status the pipeline page shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ingest.market import MarketState, market_status
from ingest.models import FetchJob, JobKind, JobStatus, Ticker
from ingest.selectors import Freshness, ticker_states
from portfolios.tests.factories import make_fresh

pytestmark = pytest.mark.django_db

SATURDAY = timezone.make_aware(datetime(2026, 11, 28, 15, 0), UTC)  # market closed: stale = last bar missing


def ticker_freshness(*, ticker_ids: list[int], timeframe: str, now: datetime) -> dict[int, Freshness]:
    return {
        ticker_id: state.freshness
        for ticker_id, state in ticker_states(ticker_ids=ticker_ids, timeframe=timeframe, now=now).items()
    }


def last_price(ticker_id: int):
    return ticker_states(ticker_ids=[ticker_id], timeframe="daily", now=SATURDAY)[ticker_id].price


def freshness_by_symbol(*, now: datetime) -> dict[str, Freshness]:
    """Every ticker's freshness in the daily timeframe at `now`, by symbol."""
    ids = dict(Ticker.objects.values_list("symbol", "id"))
    freshness = ticker_freshness(ticker_ids=list(ids.values()), timeframe="daily", now=now)
    return {symbol: freshness[ticker_id] for symbol, ticker_id in ids.items()}


def job(
    symbol: str,
    status: str,
    *,
    minutes_ago: int = 0,
    kind: str = JobKind.FETCH_BARS,
    params: dict | None = None,
) -> None:
    FetchJob.objects.create(
        kind=kind, ticker=Ticker.objects.get(symbol=symbol), timeframe="daily", reason="user_login",
        priority=1, queue="foreground", status=status, params=params or {},
        finished_at=None if status in ("queued", "running") else SATURDAY - timedelta(minutes=minutes_ago),
    )  # fmt: skip


def test_each_ticker_is_fresh_refreshing_stale_or_failed():
    for symbol in ("FRSH", "BUSY", "OLD", "BAD", "HEAL"):
        Ticker.objects.create(symbol=symbol)
    for symbol in ("FRSH", "BUSY", "BAD", "HEAL"):
        make_fresh(symbol, now=SATURDAY)
    job("BUSY", JobStatus.RUNNING)
    job("OLD", JobStatus.FAILED, minutes_ago=30)
    job("OLD", JobStatus.QUEUED, kind=JobKind.ADD_TICKER)  # adding a ticker fetches it too
    job("BAD", JobStatus.FAILED, minutes_ago=5)
    job("HEAL", JobStatus.FAILED, minutes_ago=30)
    job("HEAL", JobStatus.SUCCEEDED, minutes_ago=5)  # a later success clears the failure
    assert freshness_by_symbol(now=SATURDAY) == {
        "FRSH": Freshness.FRESH,
        "BUSY": Freshness.REFRESHING,
        "OLD": Freshness.REFRESHING,
        "BAD": Freshness.FAILED,
        "HEAL": Freshness.FRESH,
    }
    FetchJob.objects.filter(ticker__symbol="OLD", status=JobStatus.QUEUED).update(status=JobStatus.CANCELLED)
    # a cancelled job says nothing about the data
    assert freshness_by_symbol(now=SATURDAY)["OLD"] == Freshness.FAILED


def test_while_the_market_is_open_a_ticker_fetched_over_the_staleness_window_ago_is_stale(settings):
    monday = timezone.make_aware(datetime(2026, 11, 30, 16, 0), UTC)  # 11:00 in New York
    for symbol, minutes_ago in (("NEW", 5), ("OLD", settings.STOCKHUB_STALENESS_MINUTES + 5)):
        make_fresh(symbol, now=monday)
        FetchJob.objects.create(
            kind=JobKind.FETCH_BARS, ticker=Ticker.objects.get(symbol=symbol), timeframe="daily",
            reason="scheduled", priority=5, queue="background", status=JobStatus.SUCCEEDED,
            finished_at=monday - timedelta(minutes=minutes_ago),
        )  # fmt: skip
    make_fresh("NEVER", now=monday)  # never fetched while open
    assert freshness_by_symbol(now=monday) == {
        "NEW": Freshness.FRESH,
        "OLD": Freshness.STALE,
        "NEVER": Freshness.STALE,
    }


def test_a_ticker_missing_the_last_session_that_was_fetched_just_now_is_fresh(settings):
    """The provider had nothing newer (delisted, late): login does not ask again, and the page agrees."""
    for symbol, minutes_ago, params in (
        ("DLST", 5, {}),
        ("LATE", 45, {}),
        ("PAST", 5, {"end": "2019-01-01"}),
    ):
        Ticker.objects.create(symbol=symbol)
        job(symbol, JobStatus.SUCCEEDED, minutes_ago=minutes_ago, params=params)
    settings.STOCKHUB_STALENESS_MINUTES = 30
    assert freshness_by_symbol(now=SATURDAY) == {
        "DLST": Freshness.FRESH,
        "LATE": Freshness.STALE,
        "PAST": Freshness.STALE,
    }


def test_a_ticker_without_the_last_sessions_bar_and_no_job_is_stale():
    ticker = Ticker.objects.create(symbol="OLD")
    assert ticker_freshness(ticker_ids=[ticker.id], timeframe="daily", now=SATURDAY) == {
        ticker.id: Freshness.STALE
    }


def test_last_prices_give_the_newest_close_and_the_change_from_the_one_before():
    make_fresh("ONE", now=SATURDAY)  # a single bar: no change yet
    ticker = Ticker.objects.get(symbol="ONE")
    assert last_price(ticker.id).change is None
    ticker.bars.create(
        timeframe="daily", ts=SATURDAY - timedelta(days=10), open=10, high=11, low=5, close=8.4, volume=1,
        source="test",
    )  # fmt: skip
    price = last_price(ticker.id)
    assert (price.close, round(price.change, 2), round(price.change_percent, 2)) == (10.5, 2.1, 25.0)


@pytest.mark.parametrize(
    ("moment", "state"),
    [
        (datetime(2026, 11, 30, 15, 0), MarketState.OPEN),  # Monday 10:00 New York
        (datetime(2026, 11, 30, 22, 0), MarketState.CLOSED),  # Monday after the close
        (datetime(2026, 11, 28, 15, 0), MarketState.CLOSED),  # Saturday
        (datetime(2026, 11, 26, 15, 0), MarketState.HOLIDAY),  # Thanksgiving
        (datetime(2026, 11, 27, 15, 0), MarketState.EARLY_CLOSE),  # the Friday after: closes 13:00
    ],
)
def test_the_market_status_follows_the_exchange_calendar(moment, state):
    status = market_status(now=moment.replace(tzinfo=UTC))
    assert status.state == state
    assert status.next_open > moment.replace(tzinfo=UTC)
    if state == MarketState.EARLY_CLOSE:
        assert status.next_close.tz_convert("America/New_York").hour == 13
