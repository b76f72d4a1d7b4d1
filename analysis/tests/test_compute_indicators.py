"""compute_indicators stores one row per bar, incrementally, equal to a full recompute, idempotently."""

import numpy as np
import pandas as pd
import pytest

from analysis import indicators
from analysis.models import IndicatorRow
from analysis.services import analyze_ticker, analyze_tickers, compute_indicators, runs
from analysis.tests.factories import hourly_walk, random_walk, store

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = list(indicators.OUTPUT_COLUMNS)


def stored(ticker, timeframe="daily") -> pd.DataFrame:
    rows = (
        IndicatorRow.objects.filter(ticker=ticker, timeframe=timeframe).order_by("ts").values("ts", *COLUMNS)
    )
    return pd.DataFrame(list(rows)).astype({c: float for c in COLUMNS})


def assert_close(actual: pd.DataFrame, expected: pd.DataFrame, *, relative: float) -> None:
    """Equal NULLs, and values within `relative` of the larger of the value and its column's magnitude
    (a quantity that crosses zero, like MACD, has no meaningful relative error at the crossing)."""
    for column in COLUMNS:
        a, b = actual[column].to_numpy(), expected[column].to_numpy()
        assert (np.isnan(a) == np.isnan(b)).all(), column
        scale = np.nanmax(np.abs(b)) if not np.isnan(b).all() else 1.0
        both = ~np.isnan(b)
        error = np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), scale)
        assert error.max(initial=0) <= relative, (column, error.max())


def test_first_run_stores_one_row_per_bar_with_nulls_before_enough_history():
    ticker = store("AAPL", random_walk(300))
    result = compute_indicators(ticker=ticker, timeframe="daily")
    assert result.full and result.bars_read == 300
    assert (result.rows.new, result.rows.updated, result.rows_written) == (300, 0, 300)
    rows = stored(ticker)
    assert rows["sma_200"].isna().sum() == 199 and rows["sma_200"].notna().sum() == 101
    assert rows["rsi_14"].isna().sum() == 14
    assert rows["adx_14"].isna().sum() == 27
    assert rows["vwap"].isna().all()  # daily bars have no session VWAP
    assert not (rows[COLUMNS].fillna(1) == 0).all().any()  # no column made of zeros


def test_running_again_changes_nothing():
    ticker = store("MSFT", random_walk(300))
    compute_indicators(ticker=ticker, timeframe="daily")
    again = compute_indicators(ticker=ticker, timeframe="daily")
    assert again.rows_written == 0
    assert again.rows.unchanged > 0
    full_again = compute_indicators(ticker=ticker, timeframe="daily", full=True)
    assert (full_again.rows_written, full_again.rows.unchanged) == (0, 300)


def test_new_bars_recompute_only_the_tail_and_equal_a_full_recompute():
    bars = random_walk(1200, seed=3)
    ticker = store("IBM", bars.iloc[:1150])
    compute_indicators(ticker=ticker, timeframe="daily")
    store("IBM", bars.iloc[1150:])
    tail = compute_indicators(ticker=ticker, timeframe="daily")
    assert not tail.full
    assert tail.bars_read < 700  # the warm-up plus the new bars, not the whole history
    assert tail.rows.new == 50
    assert tail.rows.updated == 0  # the overlap rows were recomputed to the same values
    expected = indicators.compute(bars).reindex(columns=COLUMNS)
    assert_close(stored(ticker).drop(columns="ts"), expected, relative=1e-9)


def test_hourly_bars_get_a_session_vwap_and_an_exact_tail():
    bars = hourly_walk(300, seed=5)  # 2100 bars
    ticker = store("KO", bars.iloc[:2000], timeframe="hourly")
    compute_indicators(ticker=ticker, timeframe="hourly")
    store("KO", bars.iloc[2000:], timeframe="hourly")
    assert not compute_indicators(ticker=ticker, timeframe="hourly").full
    expected = indicators.compute(bars, session_time_zone="America/New_York")
    rows = stored(ticker, "hourly")
    assert_close(rows.drop(columns="ts"), expected[COLUMNS], relative=1e-9)
    first_session = bars.iloc[:7]
    typical = (first_session.high + first_session.low + first_session.close) / 3
    assert rows["vwap"].iloc[6] == pytest.approx(
        (typical * first_session.volume).sum() / first_session.volume.sum()
    )
    first_bar_of_day_two = bars.iloc[7]  # a new session starts at its own typical price
    typical_price = (first_bar_of_day_two.high + first_bar_of_day_two.low + first_bar_of_day_two.close) / 3
    assert rows["vwap"].iloc[7] == pytest.approx(typical_price)


def test_many_tickers_in_batches_store_exactly_what_one_at_a_time_stores(monkeypatch):
    monkeypatch.setattr(runs, "BATCH_TICKERS", 2)  # three batches, on two connections with PostgreSQL
    tickers = [
        store(symbol, random_walk(280, seed=seed)) for seed, symbol in enumerate(["A", "B", "C", "D", "E"])
    ]
    batch = analyze_tickers(ticker_ids=[t.id for t in tickers], timeframe="daily", workers=2)
    assert (batch.tickers, batch.tickers_full, batch.rows.new) == (5, 5, 5 * 280)
    in_batches = {t.symbol: stored(t) for t in tickers}
    for ticker in tickers:
        again = analyze_ticker(ticker_id=ticker.id, timeframe="daily", full=True)
        assert again.rows_written == 0 and again.patterns.events.new == 0
        pd.testing.assert_frame_equal(stored(ticker), in_batches[ticker.symbol])
