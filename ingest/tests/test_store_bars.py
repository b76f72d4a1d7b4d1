"""Storing bars is idempotent: the same bars twice change nothing, corrected bars overwrite."""

import pandas as pd
import pytest

from ingest.models import Bar, Ticker
from ingest.services import derive_longer_bars, import_bars_frame, store_bars

pytestmark = pytest.mark.django_db(transaction=True)


def daily_bars(days: int, *, start: str = "2024-01-01", close: float = 100.0) -> pd.DataFrame:
    ts = pd.bdate_range(start, periods=days, tz="UTC")
    closes = [close + i for i in range(days)]
    return pd.DataFrame(
        {
            "ts": ts,
            "open": closes,
            "high": [c + 2 for c in closes],
            "low": [c - 2 for c in closes],
            "close": [c + 1 for c in closes],
            "volume": [1000 + i for i in range(days)],
        }
    )


def test_storing_the_same_bars_twice_adds_and_changes_nothing():
    ticker = Ticker.objects.create(symbol="AAPL")
    first = store_bars(ticker=ticker, timeframe="daily", bars=daily_bars(10), source="test")
    second = store_bars(ticker=ticker, timeframe="daily", bars=daily_bars(10), source="test")
    assert (first.stored.new, first.stored.updated, first.stored.unchanged) == (10, 0, 0)
    assert (second.stored.new, second.stored.updated, second.stored.unchanged) == (0, 0, 10)
    assert Bar.objects.filter(ticker=ticker, timeframe="daily").count() == 10


def test_a_corrected_bar_overwrites_the_stored_one():
    ticker = Ticker.objects.create(symbol="MSFT")
    store_bars(ticker=ticker, timeframe="daily", bars=daily_bars(5), source="test")
    corrected = daily_bars(5)
    corrected.loc[2, "close"] = 101.5
    corrected.loc[4, "volume"] = 7
    result = store_bars(ticker=ticker, timeframe="daily", bars=corrected, source="fix")
    assert (result.stored.new, result.stored.updated, result.stored.unchanged) == (0, 2, 3)
    stored = list(Bar.objects.filter(ticker=ticker).order_by("ts").values_list("close", "volume", "source"))
    assert stored[2] == (101.5, 1002, "fix")
    assert stored[4] == (105.0, 7, "fix")
    assert stored[0][2] == "test"  # untouched rows keep their source


def test_bars_round_trip_exactly():
    ticker = Ticker.objects.create(symbol="KO")
    bars = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2015-07-17"], utc=True),
            "open": [69.0842],
            "high": [88.76],
            "low": [0.0001],
            "close": [1 / 3],
            "volume": [9_007_199_254],
        }
    )
    store_bars(ticker=ticker, timeframe="daily", bars=bars, source="test")
    bar = Bar.objects.get(ticker=ticker)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        69.0842,
        88.76,
        0.0001,
        1 / 3,
        9_007_199_254,
    )
    assert bar.ts == pd.Timestamp("2015-07-17", tz="UTC").to_pydatetime()


def test_rejected_rows_are_reported_and_never_stored():
    ticker = Ticker.objects.create(symbol="IBM")
    bars = daily_bars(4)
    bars.loc[1, "high"] = bars.loc[1, "low"] - 1
    bars.loc[3, "open"] = float("nan")
    result = store_bars(ticker=ticker, timeframe="daily", bars=bars, source="test")
    assert result.rejected == {"high_below_low": 1, "missing_price": 1}
    assert Bar.objects.filter(ticker=ticker).count() == 2


def test_a_multi_symbol_import_creates_tickers_and_is_idempotent():
    bars = pd.concat([daily_bars(3).assign(symbol="aapl"), daily_bars(2).assign(symbol="BRK-B")])
    bars["symbol"] = bars["symbol"].str.upper().str.replace("-", ".")
    first = import_bars_frame(frame=bars, timeframe="daily", source="csv")
    again = import_bars_frame(frame=bars, timeframe="daily", source="csv")
    assert first.stored.new == 5 and first.symbols == 2
    assert (again.stored.new, again.stored.updated, again.stored.unchanged) == (0, 0, 5)
    assert set(Ticker.objects.values_list("symbol", flat=True)) == {"AAPL", "BRK.B"}


def test_weekly_and_monthly_bars_are_derived_from_daily_keyed_by_monday_and_first_of_month():
    ticker = Ticker.objects.create(symbol="CAT")
    # Wed 2024-01-31 .. Tue 2024-02-06: one week spans two months.
    bars = daily_bars(5, start="2024-01-31")
    store_bars(ticker=ticker, timeframe="daily", bars=bars, source="test")
    derive_longer_bars(ticker_ids=[ticker.id])
    weekly = list(
        Bar.objects.filter(ticker=ticker, timeframe="weekly")
        .order_by("ts")
        .values_list("ts__date", "open", "high", "low", "close", "volume")
    )
    monthly = list(
        Bar.objects.filter(ticker=ticker, timeframe="monthly")
        .order_by("ts")
        .values_list("ts__date", "open", "close", "volume")
    )
    import datetime as dt

    assert weekly == [
        (dt.date(2024, 1, 29), 100.0, 104.0, 98.0, 103.0, 1000 + 1001 + 1002),  # Wed, Thu, Fri
        (dt.date(2024, 2, 5), 103.0, 106.0, 101.0, 105.0, 1003 + 1004),  # Mon, Tue
    ]
    assert monthly == [
        (dt.date(2024, 1, 1), 100.0, 101.0, 1000),
        (dt.date(2024, 2, 1), 101.0, 105.0, 1001 + 1002 + 1003 + 1004),
    ]


def test_re_deriving_from_a_later_date_leaves_earlier_periods_whole():
    ticker = Ticker.objects.create(symbol="DIS")
    store_bars(ticker=ticker, timeframe="daily", bars=daily_bars(60, start="2024-01-01"), source="test")
    full = derive_longer_bars(ticker_ids=[ticker.id])
    before = set(
        Bar.objects.filter(ticker=ticker, timeframe__in=["weekly", "monthly"]).values_list(
            "timeframe", "ts", "open", "high", "low", "close", "volume"
        )
    )
    partial = derive_longer_bars(ticker_ids=[ticker.id], since=pd.Timestamp("2024-03-20", tz="UTC"))
    after = set(
        Bar.objects.filter(ticker=ticker, timeframe__in=["weekly", "monthly"]).values_list(
            "timeframe", "ts", "open", "high", "low", "close", "volume"
        )
    )
    assert after == before
    assert partial["weekly"].new == partial["weekly"].updated == 0
    assert 0 < partial["weekly"].unchanged < full["weekly"].new


def test_an_incremental_derivation_writes_exactly_the_bars_a_full_aggregation_gives():
    """On PostgreSQL an incremental derivation is one SQL statement; its bars must be those of aggregate_bars
    over the stored daily bars (random prices, holidays, weeks across month ends), and it must see changes."""
    from ingest.providers.aggregate import aggregate_bars
    from ingest.providers.synthetic import SyntheticProvider

    provider = SyntheticProvider(now=lambda: pd.Timestamp("2024-12-31 23:00", tz="UTC"))
    tickers = [Ticker.objects.create(symbol=symbol) for symbol in ("ABC", "XYZ")]
    for ticker in tickers:
        daily = provider.fetch_bars(
            ticker.symbol, "daily", pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-12-31", tz="UTC")
        )
        store_bars(ticker=ticker, timeframe="daily", bars=daily, source="test")
    ids = [t.id for t in tickers]
    since = pd.Timestamp("2024-05-03", tz="UTC")  # a Friday; its month starts on a Wednesday
    first = pd.Timestamp("2024-04-29", tz="UTC")  # the Monday of the week holding May 1st

    counts = derive_longer_bars(ticker_ids=ids, since=since)

    stored_daily = pd.DataFrame(
        list(
            Bar.objects.filter(ticker_id__in=ids, timeframe="daily").values_list(
                "ticker_id", "ts", "open", "high", "low", "close", "volume"
            )
        ),
        columns=["ticker_id", "ts", "open", "high", "low", "close", "volume"],
    )
    stored_daily["ts"] = pd.to_datetime(stored_daily["ts"], utc=True)
    for timeframe in ("weekly", "monthly"):
        expected = aggregate_bars(stored_daily, timeframe, by="ticker_id")
        expected = expected[expected["ts"] >= first]
        written = sorted(
            (t, pd.Timestamp(ts), o, h, lo, c, v)
            for t, ts, o, h, lo, c, v in Bar.objects.filter(
                ticker_id__in=ids, timeframe=timeframe
            ).values_list("ticker_id", "ts", "open", "high", "low", "close", "volume")
        )
        assert written == sorted(
            (r.ticker_id, r.ts, r.open, r.high, r.low, r.close, int(r.volume)) for r in expected.itertuples()
        )
        assert (counts[timeframe].new, counts[timeframe].updated) == (len(expected), 0)
    assert min(
        ts for ts in Bar.objects.filter(timeframe="monthly").values_list("ts", flat=True)
    ) == pd.Timestamp("2024-05-01", tz="UTC")

    # A corrected daily close changes its week and its month, and nothing else.
    bar = (
        Bar.objects.filter(ticker=tickers[0], timeframe="daily", ts__gte=pd.Timestamp("2024-06-28", tz="UTC"))
        .order_by("ts")
        .first()
    )
    Bar.objects.filter(pk=bar.pk).update(close=bar.close + 0.5, high=max(bar.high, bar.close + 0.5))
    again = derive_longer_bars(ticker_ids=ids, since=since)
    assert (again["weekly"].new, again["weekly"].updated) == (0, 1)
    assert (again["monthly"].new, again["monthly"].updated) == (0, 1)
    assert again["weekly"].total == counts["weekly"].total
    month = Bar.objects.get(ticker=tickers[0], timeframe="monthly", ts=pd.Timestamp("2024-06-01", tz="UTC"))
    assert month.close == bar.close + 0.5
