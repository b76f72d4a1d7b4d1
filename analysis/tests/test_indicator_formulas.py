"""Each indicator formula pinned on small hand-computed series, plus properties that hold for any bars."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import indicators
from analysis.panel import BAR_COLUMNS, Panel, build_panel
from analysis.tests.factories import hourly_walk, random_walk

NAN = float("nan")


def panel(close, high=None, low=None, volume=None) -> Panel:
    close = np.asarray(close, dtype=float)
    frame = pd.DataFrame(
        {
            "open": close,
            "high": close if high is None else high,
            "low": close if low is None else low,
            "close": close,
            "volume": np.ones(len(close)) if volume is None else volume,
        }
    )
    return build_panel(frame)[0]


def column(values: np.ndarray) -> list[float]:
    return values[:, 0].tolist()


def test_sma_is_the_mean_of_the_last_window_closes():
    (sma,) = indicators.sma(panel([2, 4, 6, 5, 9]), window=3)
    assert column(sma) == pytest.approx([NAN, NAN, 4, 5, 20 / 3], nan_ok=True)


def test_ema_is_seeded_with_the_simple_mean_then_smoothed_by_two_over_window_plus_one():
    (ema,) = indicators.ema(panel([2, 4, 6, 5, 9]), window=3)  # k = 0.5, seed mean(2, 4, 6) = 4
    assert column(ema) == pytest.approx([NAN, NAN, 4, 4.5, 6.75], nan_ok=True)


def test_rsi_uses_wilder_averages_of_gains_and_losses():
    (rsi,) = indicators.rsi(panel([10, 11, 10.5, 12, 11]), window=3)
    # seed: gains (1 + 0 + 1.5) / 3, losses 0.5 / 3 -> 83.33; then gain 0, loss 1: (2.5/3*2)/3, (0.5/3*2+1)/3
    assert column(rsi) == pytest.approx([NAN, NAN, NAN, 250 / 3, 500 / 9], nan_ok=True)


def test_rsi_14_after_thirteen_rises_and_one_fall_of_the_same_size():
    closes = [100 + i for i in range(15)] + [113]
    values = indicators.compute(pd.DataFrame(dict.fromkeys(BAR_COLUMNS, closes)))
    assert values["rsi_14"].iloc[14] == 100
    assert values["rsi_14"].iloc[15] == pytest.approx(100 * 13 / 14)  # avg gain 13/14, avg loss 1/14
    assert values["rsi_14"].iloc[:14].isna().all()


def test_macd_line_signal_and_histogram():
    line, signal, hist = indicators.macd(panel([10, 12, 11, 13, 12, 14]), fast=2, slow=3, signal=2)
    # EMA(2): 11, 11, 12.33, 12.11, 13.37; EMA(3): 11, 12, 12, 13 -> line 0, 1/3, 1/9, 10/27
    assert column(line) == pytest.approx([NAN, NAN, 0, 1 / 3, 1 / 9, 10 / 27], nan_ok=True)
    # signal seeded with mean(0, 1/3) in row 3, then k = 2/3
    assert column(signal) == pytest.approx([NAN, NAN, NAN, 1 / 6, 7 / 54, 47 / 162], nan_ok=True)
    assert column(hist) == pytest.approx([NAN, NAN, NAN, 1 / 6, 1 / 9 - 7 / 54, 13 / 162], nan_ok=True)


def test_bollinger_bands_use_the_population_deviation():
    upper, middle, lower, percent_b = indicators.bollinger(panel([1, 2, 3]), window=3, width=2.0)
    deviation = np.sqrt(2 / 3)
    assert column(middle)[2] == 2
    assert column(upper)[2] == pytest.approx(2 + 2 * deviation)
    assert column(lower)[2] == pytest.approx(2 - 2 * deviation)
    assert column(percent_b)[2] == pytest.approx((3 - (2 - 2 * deviation)) / (4 * deviation))


def test_atr_is_wilders_average_of_the_true_range_including_gaps():
    high, low = [10, 11, 12, 15, 14, 13], [8, 9, 10, 11, 13, 9]
    close = [9, 10, 11, 14, 13.5, 10]
    (atr,) = indicators.atr(panel(close, high, low), window=3)
    # true ranges 2, 2, 4, 1 (14 - 13 is less than the 1 from the previous close), 4.5 (low 9 vs close 13.5)
    assert column(atr) == pytest.approx([NAN, NAN, NAN, 8 / 3, 19 / 9, 78.5 / 27], nan_ok=True)


def test_obv_adds_volume_on_up_closes_subtracts_on_down_closes_and_ignores_unchanged():
    (obv,) = indicators.obv(panel([10, 11, 11, 10.5, 12], volume=[100, 200, 300, 400, 500]))
    assert column(obv) == [100, 300, 300, -100, 400]


def test_stochastic_k_is_where_the_close_sits_in_the_window_range_and_d_its_mean():
    high, low, close = [10, 11, 12, 11, 13], [8, 9, 10, 9, 10], [9, 10, 11, 10, 12]
    k, d = indicators.stochastic(panel(close, high, low), window=3, smooth=2)
    assert column(k) == pytest.approx([NAN, NAN, 75, 100 / 3, 75], nan_ok=True)
    assert column(d) == pytest.approx([NAN, NAN, NAN, 325 / 6, 325 / 6], nan_ok=True)


def test_adx_and_directional_indicators():
    high, low, close = [10, 11, 11.5, 11, 10], [9, 9.5, 10, 9, 8.5], [9.5, 10.5, 11, 9.5, 9]
    adx, plus_di, minus_di = indicators.adx(panel(close, high, low), window=2)
    assert column(plus_di) == pytest.approx([NAN, NAN, 400 / 9, 16, 400 / 49], nan_ok=True)
    assert column(minus_di) == pytest.approx([NAN, NAN, 0, 32, 1600 / 49], nan_ok=True)
    assert column(adx) == pytest.approx([NAN, NAN, NAN, 200 / 3, 190 / 3], nan_ok=True)


def test_vwap_restarts_at_each_new_york_trading_date():
    bars = hourly_walk(2)
    values = indicators.compute(bars, session_time_zone="America/New_York")
    typical = (bars.high + bars.low + bars.close) / 3
    for session in (slice(0, 7), slice(7, 14)):
        expected = (typical[session] * bars.volume[session]).cumsum() / bars.volume[session].cumsum()
        assert values["vwap"][session].to_numpy() == pytest.approx(expected.to_numpy())


def test_a_flat_window_has_no_value_rather_than_zero():
    values = indicators.compute(pd.DataFrame(dict.fromkeys(BAR_COLUMNS, [5.0] * 40)))
    assert values[["rsi_14", "stoch_k", "bb_percent_b", "plus_di_14"]].isna().all().all()
    assert values["adx_14"].iloc[27:].eq(0).all()  # no directional movement at all: no trend


def test_each_output_starts_at_its_registered_lookback_and_is_null_before():
    values = indicators.compute(random_walk(400))
    for indicator in indicators.indicators_for(intraday=False):
        for name in indicator.outputs:
            first = values[name].notna().to_numpy().argmax()
            expected = {"adx_14": 27, "macd_signal": 33, "macd_hist": 33, "stoch_d": 15}.get(
                name, indicator.lookback
            )
            assert first == expected, name
            assert values[name].iloc[first:].notna().all(), name


def test_a_series_computed_alone_equals_the_same_series_in_a_batch_bit_for_bit():
    one, two = random_walk(300, seed=1), random_walk(250, seed=2, start="2016-03-01")
    batch = indicators.compute(pd.concat([one.assign(key=1), two.assign(key=2)], ignore_index=True), by="key")
    pd.testing.assert_frame_equal(batch.iloc[:300].reset_index(drop=True), indicators.compute(one))
    pd.testing.assert_frame_equal(batch.iloc[300:].reset_index(drop=True), indicators.compute(two))


@st.composite
def ohlcv(draw) -> pd.DataFrame:
    size = draw(st.integers(min_value=1, max_value=80))
    price = st.floats(min_value=0.01, max_value=10_000, allow_nan=False)
    fraction = st.floats(min_value=0, max_value=1, allow_nan=False)
    rows = draw(
        st.lists(
            st.tuples(price, st.floats(0, 0.3), fraction, fraction, st.integers(0, 10**9)),
            min_size=size,
            max_size=size,
        )
    )
    frame = pd.DataFrame(rows, columns=["low", "spread", "a", "b", "volume"])
    frame["high"] = frame["low"] * (1 + frame["spread"])
    frame["open"] = frame["low"] + (frame["high"] - frame["low"]) * frame["a"]
    frame["close"] = frame["low"] + (frame["high"] - frame["low"]) * frame["b"]
    return frame[list(BAR_COLUMNS)]


@settings(max_examples=150, deadline=None)
@given(ohlcv())
def test_oscillators_stay_in_range_bands_stay_ordered_and_atr_is_never_negative(bars):
    values = indicators.compute(bars)
    for name in ("rsi_14", "stoch_k", "stoch_d", "adx_14", "plus_di_14", "minus_di_14"):
        present = values[name].dropna()
        assert ((present >= -1e-9) & (present <= 100 + 1e-9)).all(), name
    bands = values[["bb_lower", "bb_middle", "bb_upper"]].dropna()
    tolerance = 1e-12 * bands["bb_middle"].abs()
    assert (bands["bb_lower"] <= bands["bb_middle"] + tolerance).all()
    assert (bands["bb_middle"] <= bands["bb_upper"] + tolerance).all()
    assert (values["atr_14"].dropna() >= 0).all()
