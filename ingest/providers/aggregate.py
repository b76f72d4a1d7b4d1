"""Rolling bars up into longer ones (daily -> weekly/monthly, intraday -> hourly). Pure pandas, no Django.

Labelling convention: a weekly bar is keyed by the Monday of its week, a monthly bar by the 1st of its
month, both at 00:00 UTC, even when the first session of the period is later (a Tuesday after a holiday);
an hourly bar is keyed by the start of its clock hour in UTC. open = first, high = max, low = min,
close = last, volume = sum of the bars inside the period.
"""

from __future__ import annotations

import pandas as pd

OHLCV_AGGREGATION = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def period_start(ts: pd.Series, timeframe: str) -> pd.Series:
    """The key of the weekly/monthly/hourly bar each timestamp falls in (tz-aware UTC in, UTC out)."""
    if timeframe == "weekly":
        day = ts.dt.floor("D")
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    if timeframe == "monthly":
        day = ts.dt.floor("D")
        return day - pd.to_timedelta(day.dt.day - 1, unit="D")
    if timeframe == "hourly":
        return ts.dt.floor("h")
    raise ValueError(f"cannot aggregate into {timeframe!r}; use weekly, monthly or hourly")


def aggregate_bars(frame: pd.DataFrame, timeframe: str, *, by: str | None = None) -> pd.DataFrame:
    """Aggregate bars into `timeframe` periods, per value of column `by` (e.g. symbol) when given.

    Rows may come in any order; the result is sorted by (`by`, ts) with the input's other columns dropped.
    """
    keys = [by, "ts"] if by else ["ts"]
    ordered = frame.sort_values(keys, kind="stable")
    ordered = ordered.assign(ts=period_start(ordered["ts"], timeframe))
    grouped = ordered.groupby(keys, sort=True)[list(OHLCV_AGGREGATION)].agg(OHLCV_AGGREGATION)
    return grouped.reset_index()
