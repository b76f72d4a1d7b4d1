"""Bar periods: rolling bars up into longer ones (daily -> weekly/monthly, intraday -> hourly) and picking the
bars of a date range. Pure pandas, no Django.

Labelling convention: a weekly bar is keyed by the Monday of its week, a monthly bar by the 1st of its
month, both at 00:00 UTC, even when the first session of the period is later (a Tuesday after a holiday);
an hourly bar is keyed by the start of its clock hour in UTC. open = first, high = max, low = min,
close = last, volume = sum of the bars inside the period.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

OHLCV_AGGREGATION = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def period_start(ts: pd.Series, timeframe: str) -> pd.Series:
    """The key of the weekly/monthly/hourly bar each timestamp falls in (tz-aware UTC in, UTC out)."""
    if timeframe not in ("weekly", "monthly", "hourly"):
        raise ValueError(f"cannot aggregate into {timeframe!r}; use weekly, monthly or hourly")
    utc = ts.dt.tz_convert("UTC")
    # numpy calendar units on the naive UTC values: ~20x faster than .dt accessors on a few rows, and on many
    naive = utc.dt.tz_localize(None).to_numpy()
    if timeframe == "hourly":
        keys = naive.astype("datetime64[h]")
    elif timeframe == "monthly":
        keys = naive.astype("datetime64[M]")
    else:
        days = naive.astype("datetime64[D]")
        # 1970-01-01 was a Thursday: (days since the epoch + 3) mod 7 is the weekday with Monday = 0
        keys = days - (days.astype("int64") + 3) % 7
    return pd.Series(keys.astype(naive.dtype), index=ts.index, name=ts.name).dt.tz_localize("UTC")


def aggregate_bars(frame: pd.DataFrame, timeframe: str, *, by: str | None = None) -> pd.DataFrame:
    """Aggregate bars into `timeframe` periods, per value of column `by` (e.g. symbol) when given.

    Rows may come in any order; the result is sorted by (`by`, ts) with the input's other columns dropped.
    """
    keys = [by, "ts"] if by else ["ts"]
    ordered = frame.sort_values(keys, kind="stable")
    ordered = ordered.assign(ts=period_start(ordered["ts"], timeframe))
    values = [ordered[column].to_numpy() for column in OHLCV_AGGREGATION]
    if len(ordered) and all(v.dtype.kind in "fi" and not np.isnan(v).any() for v in values):
        return _aggregate_sorted(ordered, values, keys)
    # NaN (a provider's gap) is skipped by groupby's first/last/max/min, which the fast path would not do
    grouped = ordered.groupby(keys, sort=True)[list(OHLCV_AGGREGATION)].agg(OHLCV_AGGREGATION)
    return grouped.reset_index()


def _aggregate_sorted(ordered: pd.DataFrame, values: list[np.ndarray], keys: list[str]) -> pd.DataFrame:
    """groupby(keys).agg(OHLCV_AGGREGATION) for rows sorted by keys without NaN, by numpy's reduceat: a
    period's rows are one run, so first/last are its ends and max/min/sum reduce over it."""
    changes = np.zeros(len(ordered), dtype=bool)
    changes[0] = True
    for key in keys:
        series = ordered[key]
        # tz-aware times compared as their int64 values: to_numpy() would give an array of Timestamp objects
        column = series.array.asi8 if isinstance(series.dtype, pd.DatetimeTZDtype) else series.to_numpy()
        changes[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(changes)
    ends = np.append(starts[1:], len(ordered)) - 1
    open_, high, low, close, volume = values
    result = {key: ordered[key].iloc[starts].reset_index(drop=True) for key in keys}
    return pd.DataFrame(
        {
            **result,
            "open": open_[starts],
            "high": np.maximum.reduceat(high, starts),
            "low": np.minimum.reduceat(low, starts),
            "close": close[ends],
            "volume": np.add.reduceat(volume, starts),
        }
    )


def as_utc(moment: datetime | pd.Timestamp) -> pd.Timestamp:
    """`moment` as a tz-aware UTC Timestamp; a naive one is taken to be UTC already."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def period_key(moment: datetime | pd.Timestamp, timeframe: str) -> pd.Timestamp:
    """The key of the `timeframe` bar that holds `moment` (a daily bar's key is its date at 00:00 UTC)."""
    if timeframe == "daily":
        return as_utc(moment).floor("D")
    return period_start(pd.Series([as_utc(moment)]), timeframe).iloc[0]


def bars_in_range(
    frame: pd.DataFrame, timeframe: str, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
) -> pd.DataFrame:
    """Rows of `frame` whose `timeframe` bar overlaps [start, end]: the bar holding `start` is included.

    Applied to finer bars before `aggregate_bars`, it keeps every row of the first and the last period.
    """
    ts = frame["ts"]
    return frame[(ts >= period_key(start, timeframe)) & (ts <= as_utc(end))]
