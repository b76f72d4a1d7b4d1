"""Indicators on the real S&P 500 five-year file agree with TA-Lib, and a tail recompute equals a full one."""

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import indicators
from ingest.providers.csv import read_bars_file
from ingest.validation import validate_bars

talib = pytest.importorskip(
    "talib", reason="TA-Lib (requirements-dev.txt) is needed for the reference values"
)

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

WARMUP_BARS = 250


@functools.cache
def _load(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    bars = validate_bars(read_bars_file(path)).bars.sort_values(["symbol", "ts"], kind="stable")
    bars = bars.reset_index(drop=True)
    return bars, indicators.compute(bars, by="symbol")


@pytest.fixture
def sp500(shared_data: Path) -> pd.DataFrame:
    """All 505 symbols (619k valid bars), read once for the module."""
    return _load(shared_data / "daily" / "sp500_all_stocks_5yr.csv.gz")[0]


@pytest.fixture
def computed(shared_data: Path) -> pd.DataFrame:
    return _load(shared_data / "daily" / "sp500_all_stocks_5yr.csv.gz")[1]


def talib_values(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    high, low, close, volume = (bars[c].to_numpy(dtype=float) for c in ("high", "low", "close", "volume"))
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2, 2, 0)
    k, d = talib.STOCHF(high, low, close, 14, 3, 0)
    return {
        "sma_20": talib.SMA(close, 20),
        "sma_50": talib.SMA(close, 50),
        "sma_200": talib.SMA(close, 200),
        "ema_12": talib.EMA(close, 12),
        "ema_26": talib.EMA(close, 26),
        "rsi_14": talib.RSI(close, 14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "bb_percent_b": (close - lower) / (upper - lower),
        "atr_14": talib.ATR(high, low, close, 14),
        "obv": talib.OBV(close, volume),
        "stoch_k": k,
        "stoch_d": d,
        "adx_14": talib.ADX(high, low, close, 14),
        "plus_di_14": talib.PLUS_DI(high, low, close, 14),
        "minus_di_14": talib.MINUS_DI(high, low, close, 14),
    }


def scaled_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest |actual - expected| relative to the larger of |expected| and the series' largest magnitude
    (MACD and %B cross zero, where a plain relative error means nothing)."""
    assert (np.isnan(actual) == np.isnan(expected)).all()
    present = ~np.isnan(expected)
    if not present.any():
        return 0.0
    scale = np.abs(expected[present]).max()
    return float(
        (np.abs(actual[present] - expected[present]) / np.maximum(np.abs(expected[present]), scale)).max()
    )


def test_every_indicator_agrees_with_talib_after_a_250_bar_warmup(sp500, computed):
    worst: dict[str, float] = {}
    for _symbol, bars in sp500.groupby("symbol"):
        if len(bars) <= WARMUP_BARS:
            continue
        ours = computed.loc[bars.index]
        for name, reference in talib_values(bars).items():
            error = scaled_error(ours[name].to_numpy()[WARMUP_BARS:], reference[WARMUP_BARS:])
            worst[name] = max(worst.get(name, 0.0), error)
    assert set(worst) == set(indicators.OUTPUT_COLUMNS) - {"vwap"}
    assert max(worst.values()) < 1e-6, worst


def test_a_recompute_started_warmup_bars_early_equals_the_full_one_for_every_symbol(sp500, computed):
    warmup = indicators.warmup_bars(intraday=False)
    worst = 0.0
    for _symbol, bars in sp500.groupby("symbol"):
        start = len(bars) - 30 - warmup
        if start <= 0:
            continue
        tail = indicators.compute(bars.iloc[start:])
        tail["obv"] += computed.at[bars.index[start], "obv"] - tail["obv"].iloc[0]  # continues the stored OBV
        full = computed.loc[bars.index[start + warmup :]]
        for name in full.columns:
            worst = max(worst, scaled_error(tail[name].to_numpy()[warmup:], full[name].to_numpy()))
    assert worst < 1e-9
