"""Technical indicators as pure maths: a DataFrame of bars in, one float column per output out (no Django).

Every formula follows TA-Lib's conventions (seeds, smoothing, first bar with a value), so StockHub's figures
agree with the industry reference; docs/indicators.md lists the few places where we differ and why. A value
needs its full look-back: before that it is NaN (stored as NULL), never 0. So is a value whose formula would
divide by zero (a flat window), where TA-Lib writes 0.

The maths runs on a `Panel` (analysis/panel.py): bars of one or many series side by side, so one call
computes a whole universe with a few vectorised operations per indicator (see bench/indicators.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.panel import (
    Panel,
    build_panel,
    column_sum,
    previous,
    ratio,
    recurse,
    rolling_extreme,
    rolling_mean,
    rolling_std,
    running_sum,
    seeded,
    side_by_side,
)

# A recomputation that starts later than the first bar agrees with a full one once its recursive smoothing
# has forgotten its start: we wait until the start-up difference has shrunk below this fraction of itself.
CONVERGED = 1e-12


def _close_mean(panel: Panel, window: int) -> np.ndarray:
    sums = panel.memo("close_sums", lambda: running_sum(panel.close))
    return panel.memo(f"close_mean_{window}", lambda: rolling_mean(panel.close, window, sums))


def _ema(x: np.ndarray, window: int, first_row: int = 0) -> np.ndarray:
    """EMA with k = 2 / (window + 1), seeded with the mean of the first `window` values (TA-Lib's seed)."""
    return seeded(x, 2.0 / (window + 1), first_row, window)


def _true_range(panel: Panel) -> np.ndarray:
    def compute() -> np.ndarray:
        previous_close = previous(panel.close)  # NaN in row 0: the first bar has no true range
        return np.maximum(
            panel.high - panel.low,
            np.maximum(np.abs(panel.high - previous_close), np.abs(panel.low - previous_close)),
        )

    return panel.memo("true_range", compute)


def _close_ema(panel: Panel, window: int) -> np.ndarray:
    return panel.memo(f"ema_{window}", lambda: _ema(panel.close, window))


# --- the indicators: each takes a Panel and returns one array per output column ---


def sma(panel: Panel, *, window: int) -> tuple[np.ndarray]:
    return (_close_mean(panel, window),)


def ema(panel: Panel, *, window: int) -> tuple[np.ndarray]:
    return (_close_ema(panel, window),)


def rsi(panel: Panel, *, window: int) -> tuple[np.ndarray]:
    """Wilder's RSI: averages of gains and losses seeded with their simple mean over the first window."""
    change = panel.close - previous(panel.close)
    moves, (gains, losses) = side_by_side(2, change)
    np.maximum(change, 0.0, out=gains)
    np.negative(change, out=losses)
    np.maximum(losses, 0.0, out=losses)
    gain, loss = np.hsplit(seeded(moves, 1 / window, first_row=1, window=window), 2)
    return (ratio(gain, gain + loss, 100.0),)


def macd(panel: Panel, *, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line = EMA(fast) - EMA(slow); signal = EMA(signal) of the line; histogram = line - signal."""
    line = _close_ema(panel, fast) - _close_ema(panel, slow)
    signal_line = _ema(line, signal, first_row=slow - 1)
    return line, signal_line, line - signal_line


def bollinger(panel: Panel, *, window: int, width: float) -> tuple[np.ndarray, ...]:
    """Bands at `width` population standard deviations around the SMA; %B = where the close sits in them."""
    middle = _close_mean(panel, window)
    deviation = rolling_std(panel.close, window)
    upper, lower = middle + width * deviation, middle - width * deviation
    return upper, middle, lower, ratio(panel.close - lower, upper - lower)


def atr(panel: Panel, *, window: int) -> tuple[np.ndarray]:
    """Wilder's average of the true range, from the second bar (the first has no previous close)."""
    return (seeded(_true_range(panel), 1 / window, first_row=1, window=window),)


def obv(panel: Panel) -> tuple[np.ndarray]:
    """On-balance volume: the first bar's volume, then plus/minus each volume as the close rises/falls."""
    direction = np.sign(panel.close - previous(panel.close))
    direction[0] = 1.0
    return (np.cumsum(direction * panel.volume, axis=0),)


def stochastic(panel: Panel, *, window: int, smooth: int) -> tuple[np.ndarray, np.ndarray]:
    """Fast stochastic: %K = where the close sits in the window's high-low range; %D = SMA of %K."""
    highest = rolling_extreme(panel.high, window, np.maximum)
    lowest = rolling_extreme(panel.low, window, np.minimum)
    k = ratio(panel.close - lowest, highest - lowest, 100.0)
    return k, rolling_mean(k, smooth)


def adx(panel: Panel, *, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wilder's ADX with +DI and -DI, seeded exactly as TA-Lib: ADX is the mean of the first `window` DX
    values, then Wilder-smoothed."""
    seed_row = window - 1
    if panel.rows <= seed_row:
        empty = np.full(panel.close.shape, np.nan)
        return empty, empty.copy(), empty.copy()
    up = panel.high - previous(panel.high)
    down = previous(panel.low) - panel.low
    moves, (plus_dm, minus_dm, true_range) = side_by_side(3, up)
    plus_dm.fill(0.0)
    np.copyto(plus_dm, up, where=(up > down) & (up > 0))
    minus_dm.fill(0.0)
    np.copyto(minus_dm, down, where=(down > up) & (down > 0))
    np.copyto(true_range, _true_range(panel))
    # Wilder's running *sums*, divided by window: the same recursion as his average, seeded in row
    # window - 1 with the sum of rows 1 .. window - 1 (TA-Lib's seed).
    seed = column_sum(moves[1 : seed_row + 1]) / window
    plus_sum, minus_sum, range_sum = np.hsplit(recurse(moves, 1 / window, seed_row, seed), 3)
    plus_di = ratio(plus_sum, range_sum, 100.0)
    minus_di = ratio(minus_sum, range_sum, 100.0)
    plus_di[:window] = minus_di[:window] = np.nan
    di_sum = plus_di + minus_di
    # No directional movement (or no movement at all) in the window: no trend, DX 0, as TA-Lib seeds it.
    dx = np.where((di_sum == 0) | (range_sum == 0), 0.0, ratio(np.abs(plus_di - minus_di), di_sum, 100.0))
    dx[:window] = np.nan
    return seeded(dx, 1 / window, first_row=window, window=window), plus_di, minus_di


def vwap(panel: Panel) -> tuple[np.ndarray]:
    """Volume-weighted average of the typical price (H+L+C)/3 since the session's first bar."""
    if panel.session is None:
        return (np.full(panel.close.shape, np.nan),)
    typical = (panel.high + panel.low + panel.close) / 3.0
    rows, columns = panel.close.shape
    # One group per (series, session): a running sum restarts at each session and is exact per session.
    group = (np.arange(columns)[None, :] * 1_000_000 + np.nan_to_num(panel.session, nan=-1)).ravel()
    priced = pd.Series((typical * panel.volume).ravel()).groupby(group, sort=False).cumsum()
    volume = pd.Series(panel.volume.ravel()).groupby(group, sort=False).cumsum()
    return (ratio(priced.to_numpy(), volume.to_numpy()).reshape(rows, columns),)


# --- the registry: name -> function -> parameters -> output columns ---


def converged_after(alpha: float, stages: int = 1) -> int:
    """Bars after which a start-up difference in a `stages`-deep recursive smoothing with factor `alpha`
    has shrunk below CONVERGED of itself (it decays like k^(stages-1) * (1 - alpha)^k)."""
    k = 1
    while k ** (stages - 1) * (1 - alpha) ** k > CONVERGED:
        k += 1
    return k


@dataclass(frozen=True)
class Indicator:
    """One registered indicator.

    lookback: rows without a value at the start of a series (the first value is in row `lookback`).
    warmup: bars before a row that make its value equal a full recompute (within CONVERGED of the start-up
        difference); the service loads at least this much history before the first row it rewrites.
    anchored: a running total from the first bar (OBV). Starting later shifts every value by a constant,
        which the service removes using the stored value of the first bar it loads.
    intraday_only: only computed for intraday (hourly) bars.
    """

    name: str
    function: Callable[..., tuple[np.ndarray, ...]]
    outputs: tuple[str, ...]
    params: Mapping[str, float] = field(default_factory=dict)
    lookback: int = 0
    warmup: int = 0
    anchored: bool = False
    intraday_only: bool = False

    def compute(self, panel: Panel) -> dict[str, np.ndarray]:
        return dict(zip(self.outputs, self.function(panel, **self.params), strict=True))


INDICATORS: dict[str, Indicator] = {}


def register(indicator: Indicator) -> Indicator:
    INDICATORS[indicator.name] = indicator
    return indicator


for _window in (20, 50, 200):
    register(
        Indicator(
            f"sma_{_window}",
            sma,
            (f"sma_{_window}",),
            {"window": _window},
            lookback=_window - 1,
            warmup=_window - 1,
        )
    )
for _window in (12, 26):
    register(
        Indicator(
            f"ema_{_window}",
            ema,
            (f"ema_{_window}",),
            {"window": _window},
            lookback=_window - 1,
            warmup=_window - 1 + converged_after(2 / (_window + 1)),
        )
    )
register(Indicator("rsi_14", rsi, ("rsi_14",), {"window": 14}, 14, 14 + converged_after(1 / 14)))
register(
    Indicator(
        "macd",
        macd,
        ("macd", "macd_signal", "macd_hist"),
        {"fast": 12, "slow": 26, "signal": 9},
        lookback=25,
        warmup=33 + converged_after(2 / 27, stages=2),  # the signal smooths the slow EMA again
    )
)
register(
    Indicator(
        "bbands",
        bollinger,
        ("bb_upper", "bb_middle", "bb_lower", "bb_percent_b"),
        {"window": 20, "width": 2.0},
        lookback=19,
        warmup=19,
    )
)
register(Indicator("atr_14", atr, ("atr_14",), {"window": 14}, 14, 14 + converged_after(1 / 14)))
register(Indicator("obv", obv, ("obv",), anchored=True))
register(
    Indicator(
        "stoch", stochastic, ("stoch_k", "stoch_d"), {"window": 14, "smooth": 3}, lookback=13, warmup=15
    )
)
register(
    Indicator(
        "adx_14",
        adx,
        ("adx_14", "plus_di_14", "minus_di_14"),
        {"window": 14},
        lookback=14,  # +DI/-DI; ADX itself starts at row 27
        warmup=27 + converged_after(1 / 14, stages=2),  # ADX smooths DX, made of smoothed movements
    )
)
# A session of hourly bars never holds more than 24 bars, so one day of history completes any session.
register(Indicator("vwap", vwap, ("vwap",), lookback=0, warmup=24, intraday_only=True))

OUTPUT_COLUMNS: tuple[str, ...] = tuple(column for ind in INDICATORS.values() for column in ind.outputs)


def indicators_for(*, intraday: bool, names: list[str] | None = None) -> list[Indicator]:
    """The registered indicators to compute (all by default); VWAP only for intraday bars."""
    chosen = [INDICATORS[name] for name in names] if names else list(INDICATORS.values())
    return [ind for ind in chosen if intraday or not ind.intraday_only]


def warmup_bars(*, intraday: bool) -> int:
    """History a recompute needs before its first rewritten row to equal a full recompute."""
    return max(ind.warmup for ind in indicators_for(intraday=intraday))


def compute_panel(panel: Panel, *, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every output column of the chosen indicators as panel-shaped arrays."""
    values: dict[str, np.ndarray] = {}
    for indicator in indicators_for(intraday=panel.session is not None, names=names):
        values.update(indicator.compute(panel))
    return values


def compute(
    bars: pd.DataFrame,
    *,
    names: list[str] | None = None,
    by: str | None = None,
    session_time_zone: str | None = None,
) -> pd.DataFrame:
    """Indicators of bars (columns open, high, low, close, volume; oldest first), same index as `bars`.

    With `by`, the frame holds many series (e.g. by="ticker_id"), each computed on its own bars only.
    With `session_time_zone` (e.g. "America/New_York"), the bars are intraday and VWAP is included,
    restarting at each trading date in that zone (read from column `ts`).
    """
    if bars.empty:
        columns = [
            c
            for ind in indicators_for(intraday=session_time_zone is not None, names=names)
            for c in ind.outputs
        ]
        return pd.DataFrame(columns=columns, index=bars.index, dtype="float64")
    panel, index = build_panel(bars, by=by, session_time_zone=session_time_zone)
    values = compute_panel(panel, names=names)
    # One (columns x bars) block handed to pandas as is: a dict of columns would be copied again (~0.2 s
    # for the 619k-bar S&P 500 file).
    block = np.empty((len(values), len(bars)))
    for position, array in enumerate(values.values()):
        block[position] = index.gather(array)
    return pd.DataFrame(block.T, index=bars.index, columns=list(values), copy=False)
