"""The factors of the dynamic priority, read from holdings, logins and bars (the formula: tests/test_queues.py)."""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ingest.models import Bar, Ticker
from ingest.selectors import priority_factors
from portfolios.models import Holding
from portfolios.tests.factories import make_portfolio, make_user
from stockhub.queues import Queue, dynamic_priority

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 14, 21, tzinfo=UTC)


def closes(symbol: str, values: list[float], *, newest: datetime = NOW - timedelta(hours=1)) -> Ticker:
    ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
    days = len(values)
    Bar.objects.bulk_create(
        Bar(ticker=ticker, timeframe="daily", ts=newest - timedelta(days=days - 1 - i), open=v, high=v, low=v,
            close=v, volume=1, source="test")
        for i, v in enumerate(values)
    )  # fmt: skip
    return ticker


def test_a_ticker_nobody_holds_scores_nothing_for_activity_and_value():
    ticker = closes("LONE", [10.0] * 21)
    factors = priority_factors(ticker=ticker, now=NOW)
    assert (factors.activity, factors.value, factors.volatility) == (0.0, 0.0, 0.0)


def test_activity_fades_over_a_week_after_the_holders_last_login():
    owner = make_user("ann")
    owner.last_login = NOW - timedelta(days=3, hours=12)
    owner.save()
    ticker = closes("HELD", [10.0] * 5)
    make_portfolio(owner=owner, symbols=["HELD"])
    assert priority_factors(ticker=ticker, now=NOW).activity == pytest.approx(0.5)


def test_value_is_the_tickers_largest_share_of_a_holders_portfolio():
    big, small = closes("BIG", [30.0] * 3), closes("SMALL", [10.0] * 3)
    make_portfolio(symbols=["BIG", "SMALL"])  # 10 shares each: 300 and 100
    assert priority_factors(ticker=big, now=NOW).value == pytest.approx(0.75)
    assert priority_factors(ticker=small, now=NOW).value == pytest.approx(0.25)
    Holding.objects.filter(ticker=small).update(quantity=Decimal("90"))  # now 900 of 1200
    assert priority_factors(ticker=small, now=NOW).value == pytest.approx(0.75)


def test_age_and_volatility_come_from_the_daily_bars():
    stale = closes("OLD", [10.0] * 5, newest=NOW - timedelta(days=3, hours=12))
    assert priority_factors(ticker=stale, now=NOW).age == pytest.approx(0.5)
    assert priority_factors(ticker=Ticker.objects.create(symbol="NONE"), now=NOW).age == 1.0
    calm = closes("CALM", [100 * 1.001**i for i in range(21)])  # the same return every day
    wild = closes("WILD", [100.0, 110.0] * 10 + [100.0])
    assert priority_factors(ticker=calm, now=NOW).volatility == pytest.approx(0.0, abs=1e-9)
    assert priority_factors(ticker=wild, now=NOW).volatility == 1.0  # ~150 % a year, capped


def test_a_held_active_volatile_ticker_is_analysed_before_an_idle_one():
    owner = make_user("bea")
    owner.last_login = NOW
    owner.save()
    closes("HOT", [100.0, 110.0] * 10 + [100.0])
    make_portfolio(owner=owner, symbols=["HOT"])
    idle = closes("IDLE", [10.0] * 21)
    hot = Ticker.objects.get(symbol="HOT")
    hot_priority = dynamic_priority(Queue.ANALYSIS, **asdict(priority_factors(ticker=hot, now=NOW)))
    idle_priority = dynamic_priority(Queue.ANALYSIS, **asdict(priority_factors(ticker=idle, now=NOW)))
    # score 0.4 + 0.3 + 0.1 (+ a fresh bar's ~0) = 0.8 -> 7 + round(0.2 * 3) = 8; the idle one scores ~0 -> 10
    assert (hot_priority, idle_priority) == (8, 10)
