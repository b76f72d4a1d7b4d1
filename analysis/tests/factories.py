"""Builders for bars in analysis tests: seeded random walks and hand-made candles, stored through ingest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.models import Ticker
from ingest.services import store_bars

HOURLY_STARTS_UTC = [
    "14:30",
    "15:30",
    "16:30",
    "17:30",
    "18:30",
    "19:30",
    "20:30",
]  # 09:30..15:30 New York (EST)


def random_walk(bars: int, *, seed: int = 0, start: str = "2015-01-02", price: float = 100.0) -> pd.DataFrame:
    """Daily bars (business days) of a seeded random walk: columns ts, open, high, low, close, volume."""
    return _walk(pd.bdate_range(start, periods=bars, tz="UTC"), seed=seed, price=price)


def hourly_walk(sessions: int, *, seed: int = 0, start: str = "2024-01-08") -> pd.DataFrame:
    """Seven hourly bars per business day (New York 09:30 to 15:30 starts, winter time)."""
    days = pd.bdate_range(start, periods=sessions)
    ts = pd.DatetimeIndex(
        [pd.Timestamp(f"{day.date()} {hour}", tz="UTC") for day in days for hour in HOURLY_STARTS_UTC]
    )
    return _walk(ts, seed=seed, price=50.0)


def _walk(ts: pd.DatetimeIndex, *, seed: int, price: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ts)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = np.concatenate([[price], close[:-1]]) * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    volume = rng.integers(100_000, 1_000_000, n)
    return pd.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume})


def candles(
    rows: list[tuple[float, float, float, float]], *, volume: int = 1000, start: str = "2020-01-01"
) -> pd.DataFrame:
    """Daily bars from (open, high, low, close) tuples, oldest first."""
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], dtype=float)
    frame.insert(0, "ts", pd.bdate_range(start, periods=len(rows), tz="UTC"))
    frame["volume"] = volume
    return frame


def store(symbol: str, bars: pd.DataFrame, *, timeframe: str = "daily") -> Ticker:
    """Store bars for `symbol` (created if needed) the way a fetch does."""
    ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
    result = store_bars(ticker=ticker, timeframe=timeframe, bars=bars, source="test")
    assert not result.rejected, result.rejected
    return ticker
