"""Bars of one or many series side by side, and the vectorised building blocks indicators and patterns
are made of: rolling windows and recursive smoothing over whole panels at once (pure numpy and pandas).

The blocks are written so that one series computed alone and the same series inside a wide panel go
through the same floating-point operations in the same order: both give bit-identical values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer

BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Panel:
    """Bars of one or more series side by side: row = bar position (oldest first), column = series.

    Every series starts in row 0; a shorter one is padded with NaN after its newest bar. All indicators are
    causal, so padding never reaches a real bar. `session` holds the trading date (days since 1970) of each
    bar for intraday series and is None otherwise.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    session: np.ndarray | None = None
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def rows(self) -> int:
        return self.close.shape[0]

    def memo(self, key: str, compute: Callable[[], object]) -> object:
        """A value several indicators share (the EMAs inside MACD, the true range), computed once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


@dataclass(frozen=True, eq=False)
class PanelIndex:
    """Where each row of a long frame of bars sits in its Panel: `row[i]`, `column[i]` for input row i."""

    row: np.ndarray
    column: np.ndarray
    keys: pd.Index
    width: int

    @functools.cached_property
    def flat(self) -> np.ndarray:
        return self.row * self.width + self.column

    def gather(self, values: np.ndarray) -> np.ndarray:
        """A panel-shaped array back in the order of the long frame."""
        return np.take(values, self.flat)

    def locate(self, rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Positions in the long frame of the given panel cells."""
        position = np.full(shape[0] * shape[1], -1, dtype=np.int64)
        position[self.flat] = np.arange(len(self.row))
        return position[rows * shape[1] + columns]


def build_panel(
    bars: pd.DataFrame, *, by: str | None = None, session_time_zone: str | None = None
) -> tuple[Panel, PanelIndex]:
    """Lay out a frame of bars (oldest first within each series of `by`) as a Panel.

    `session_time_zone` marks the bars as intraday: their trading date in that zone (from column `ts`)
    is what VWAP restarts on.
    """
    if by is None:
        codes = np.zeros(len(bars), dtype=np.int64)
        keys = pd.Index([0])
    else:
        codes, keys = pd.factorize(bars[by], sort=False)
    counts = np.bincount(codes, minlength=len(keys))
    if (np.diff(codes) >= 0).all():  # each series' bars together, the usual layout: no grouping needed
        row = np.arange(len(codes)) - np.repeat(np.cumsum(counts) - counts, counts)
    else:
        row = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    shape = (int(counts.max()) if len(bars) else 0, len(keys))
    flat = row * shape[1] + codes

    def place(values: np.ndarray) -> np.ndarray:
        out = np.full(shape[0] * shape[1], np.nan)
        out[flat] = values
        return out.reshape(shape)

    arrays = {name: place(bars[name].to_numpy(dtype="float64")) for name in BAR_COLUMNS}
    session = None
    if session_time_zone is not None:
        local = pd.DatetimeIndex(bars["ts"]).tz_convert(session_time_zone)
        days = (local.tz_localize(None).normalize() - pd.Timestamp(0)) // pd.Timedelta(days=1)
        session = place(np.asarray(days, dtype="float64"))
    return Panel(**arrays, session=session), PanelIndex(row=row, column=codes, keys=keys, width=shape[1])


# --- building blocks (all along axis 0, the bars) ---

# Above this many series, the recursion loops over rows (numpy across series); below, over Python floats
# per series. Both do `keep * previous + alpha * x` in IEEE double, so the results are identical.
_ROW_LOOP_MIN_SERIES = 32


def previous(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    out[0] = np.nan
    out[1:] = x[:-1]
    return out


def shifted(x: np.ndarray, by: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    if by < x.shape[0]:
        out[by:] = x[:-by]
    return out


def column_sum(x: np.ndarray) -> np.ndarray:
    """Sum over rows, added strictly in row order (numpy would sum one column pairwise, a panel not)."""
    total = x[0].copy()
    for row in x[1:]:
        total += row
    return total


def running_sum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Running sum of x minus each series' first value (row 0 of the result is 0), running count of NaNs,
    and that first value. The sum grows with the price's drift, not its level, so window sums taken as
    differences stay accurate (~1e-13 relative even over 20 years of hourly bars)."""
    rows, width = x.shape
    missing = np.isnan(x)
    first = np.argmax(~missing, axis=0)
    reference = np.nan_to_num(x[first, np.arange(width)])
    running = np.zeros((rows + 1, width))
    centred = np.subtract(x, reference, out=running[1:])
    # NaN only as padding after each series' last bar (the usual case) needs no gap bookkeeping: it only
    # reaches padded rows. A NaN between values (or before the first) is counted and its windows are NaN.
    gapless = not missing[0].any() and not (missing[:-1] & ~missing[1:]).any()
    if not gapless:
        centred[missing] = 0.0
    _accumulate(running[1:])
    if gapless:
        return running, None, reference
    gaps = np.zeros((rows + 1, width))
    gaps[1:] = missing
    _accumulate(gaps[1:])
    return running, gaps, reference


def _accumulate(x: np.ndarray) -> None:
    """In place: each row becomes the sum of the rows up to it (like cumsum along rows, same additions)."""
    if x.shape[1] < _ROW_LOOP_MIN_SERIES:
        np.cumsum(x, axis=0, out=x)
        return
    rows = list(x)
    for previous, row in zip(rows, rows[1:], strict=False):
        np.add(previous, row, out=row)


def rolling_mean(
    x: np.ndarray, window: int, sums: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None
) -> np.ndarray:
    """Mean of the last `window` values; NaN while the window is short or holds a NaN. O(1) per value.
    `sums` is x's running_sum when the caller already has it."""
    out = np.full_like(x, np.nan)
    if x.shape[0] < window:
        return out
    running, gaps, reference = sums if sums is not None else running_sum(x)
    means = out[window - 1 :]
    np.subtract(running[window:], running[:-window], out=means)
    means /= window
    means += reference
    if gaps is not None:
        means[gaps[window:] != gaps[:-window]] = np.nan
    return out


class _SeriesWindows(BaseIndexer):
    """Windows over a panel flattened series by series (column-major) that never reach into the previous
    series: rolling over the whole panel in one call, ~20x faster than pandas' one call per column."""

    def get_window_bounds(self, num_values=0, min_periods=None, center=None, closed=None, step=None):
        end = np.arange(1, num_values + 1, dtype=np.int64)
        series_start = end - 1 - (end - 1) % self.rows
        return np.maximum(end - self.window_size, series_start), end


def rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation of the last `window` values (pandas' numerically careful online
    algorithm: exactly 0 for a flat window); NaN while the window is short or holds a NaN."""
    rows, width = x.shape
    if rows == 0:
        return x.copy()
    windows = _SeriesWindows(window_size=window, rows=rows)
    flat = pd.Series(x.ravel(order="F")).rolling(windows, min_periods=window).std(ddof=0).to_numpy()
    return np.ascontiguousarray(flat.reshape(width, rows).T)


def rolling_extreme(x: np.ndarray, window: int, pick: Callable) -> np.ndarray:
    """Max (pick=np.maximum) or min of the last `window` values, NaN while the window is short.

    Doubling: extremes over 2, 4, 8... values, then two overlapping blocks cover the window. log2(window)
    whole-array operations, and exact (no arithmetic).
    """
    result, spare = x.copy(), np.empty_like(x)  # two buffers in turn: no new array per step

    def widen(by: int) -> None:
        nonlocal result, spare
        spare[:by] = np.nan
        pick(result[by:], result[:-by], out=spare[by:])
        result, spare = spare, result

    span = 1
    while span * 2 <= window and span < x.shape[0]:
        widen(span)
        span *= 2
    if span < window:
        if window - span >= x.shape[0]:
            return np.full_like(x, np.nan)
        widen(window - span)
    return result


def recurse(x: np.ndarray, alpha: float, seed_row: int, seed: np.ndarray) -> np.ndarray:
    """y[seed_row] = seed, then y[t] = (1 - alpha) * y[t-1] + alpha * x[t]; NaN before seed_row."""
    rows, width = x.shape
    if rows <= seed_row:
        return np.full(x.shape, np.nan)
    out = np.empty(x.shape)
    out[:seed_row] = np.nan
    keep = 1.0 - alpha
    scaled = alpha * x
    out[seed_row] = seed
    if width >= _ROW_LOOP_MIN_SERIES:
        targets, values = list(out), list(scaled)  # row views made once, not per step
        previous = targets[seed_row]
        for t in range(seed_row + 1, rows):
            row = targets[t]
            np.multiply(previous, keep, out=row)
            np.add(row, values[t], out=row)
            previous = row
        return out
    for column in range(width):
        previous = float(seed[column])
        values = []
        for value in scaled[seed_row + 1 :, column].tolist():
            previous = keep * previous + value
            values.append(previous)
        out[seed_row + 1 :, column] = values
    return out


def seeded(x: np.ndarray, alpha: float, first_row: int, window: int) -> np.ndarray:
    """The recursion seeded, in row first_row + window - 1, with the mean of the first `window` values."""
    seed_row = first_row + window - 1
    if x.shape[0] <= seed_row:
        return np.full(x.shape, np.nan)
    return recurse(x, alpha, seed_row, column_sum(x[first_row : seed_row + 1]) / window)


def side_by_side(count: int, like: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """An array of `count` panels side by side, and views of each: recursions over them run as one loop."""
    rows, width = like.shape
    stacked = np.empty((rows, count * width))
    return stacked, [stacked[:, i * width : (i + 1) * width] for i in range(count)]


def ratio(numerator: np.ndarray, denominator: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """scale * numerator / denominator, NaN where the denominator is 0 (a flat window has no value)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.multiply(numerator, scale)
        out /= denominator
    out[denominator == 0] = np.nan
    return out
