"""Bar periods: rolling bars up into longer ones (daily -> weekly/monthly, intraday -> hourly) and picking the
bars of a date range. Pure pandas, no Django.

Labelling convention: a weekly bar is keyed by the Monday of its week, a monthly bar by the 1st of its
month, both at 00:00 UTC, even when the first session of the period is later (a Tuesday after a holiday);
an hourly bar is keyed by the start of its clock hour in UTC. open = first, high = max, low = min,
close = last, volume = sum of the bars inside the period.
"""

from __future__ import annotations

from datetime import datetime

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


def as_utc(moment: datetime | pd.Timestamp) -> pd.Timestamp:
    """`moment` as a tz-aware UTC Timestamp; a naive one is taken to be UTC already."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def period_key(moment: datetime | pd.Timestamp, timeframe: str) -> pd.Timestamp:
    """The key of the `timeframe` bar that holds `moment` (a daily bar's key is its date at 00:00 UTC)."""
    stamp = pd.Series([as_utc(moment)])
    if timeframe == "daily":
        return stamp.dt.floor("D").iloc[0]
    return period_start(stamp, timeframe).iloc[0]


def bars_in_range(
    frame: pd.DataFrame, timeframe: str, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
) -> pd.DataFrame:
    """Rows of `frame` whose `timeframe` bar overlaps [start, end]: the bar holding `start` is included.

    Applied to finer bars before `aggregate_bars`, it keeps every row of the first and the last period.
    """
    ts = frame["ts"]
    return frame[(ts >= period_key(start, timeframe)) & (ts <= as_utc(end))]
