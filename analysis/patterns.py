"""Chart patterns as pure maths: bars (and their indicators) in, one event per (bar, kind) out (no Django).

Each kind is one small function over a Panel (see analysis/panel.py), so a whole universe is scanned with
a few array operations per kind. The definitions, with their thresholds and what `strength` measures, are in
docs/patterns.md; the constants below are the numbers used there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import indicators
from analysis.panel import Panel, PanelIndex, build_panel, rolling_extreme, rolling_mean, shifted

BULLISH, BEARISH, NEUTRAL = "bullish", "bearish", "neutral"

DOJI_MAX_BODY = 0.1  # body at most this fraction of the bar's range
SHADOW_TO_BODY = 2.0  # hammer / shooting star: the long shadow at least twice the body
SHORT_SHADOW = 0.1  # ... and the other shadow at most this fraction of the range
TREND_BARS = 5  # "after a decline": the close before the pattern is below the close this many bars earlier
STAR_LONG_BODY = 0.5  # morning/evening star: the first body is at least half its range
STAR_SMALL_BODY = 0.3  # ... and the star's body at most this fraction of the first body
RSI_OVERBOUGHT, RSI_OVERSOLD, RSI_EXTREME_BARS = 70.0, 30.0, 14
VOLUME_SPIKE_RATIO, VOLUME_AVERAGE_BARS = 3.0, 20
# 52 weeks in bars: 252 sessions; an hourly session is 7 bars (09:30-16:00 New York, the last one short).
BARS_PER_52_WEEKS = {"hourly": 252 * 7, "daily": 252, "weekly": 52, "monthly": 12}
# Strength and details are for reading; digits past these are float noise that differs between a full scan
# and a rescan of the newest bars, and would make a rescan rewrite unchanged events.
SIGNIFICANT_DIGITS = 10


@dataclass(frozen=True)
class Detection:
    """Where a kind fires (`hits`, panel-shaped booleans), its direction (one for the kind, or per bar as a
    sign: > 0 bullish, < 0 bearish, 0 neutral), its strength, and the values kept as the event's details."""

    hits: np.ndarray
    direction: str | np.ndarray
    strength: np.ndarray
    details: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Scan:
    """What a pattern function reads: the bars, their indicator values, and the timeframe."""

    panel: Panel
    values: dict[str, np.ndarray]
    timeframe: str

    def __getattr__(self, name: str) -> np.ndarray:
        return getattr(self.panel, name)

    def shift(self, name: str, by: int) -> np.ndarray:
        """The column `name` (a bar column or an indicator output) as of `by` bars earlier."""
        source = self.values[name] if name in self.values else getattr(self.panel, name)
        return self.panel.memo(f"shift:{name}:{by}", lambda: shifted(source, by))

    @property
    def body(self) -> np.ndarray:
        return self.panel.memo("body", lambda: np.abs(self.close - self.open))

    @property
    def range(self) -> np.ndarray:
        return self.panel.memo("range", lambda: self.high - self.low)

    @property
    def upper_shadow(self) -> np.ndarray:
        return self.panel.memo("upper_shadow", lambda: self.high - np.maximum(self.open, self.close))

    @property
    def lower_shadow(self) -> np.ndarray:
        return self.panel.memo("lower_shadow", lambda: np.minimum(self.open, self.close) - self.low)

    def declining_before(self, bars: int) -> np.ndarray:
        """The close before a pattern of `bars` bars is below the close TREND_BARS bars before that."""
        return self.shift("close", bars) < self.shift("close", bars + TREND_BARS)

    def rising_before(self, bars: int) -> np.ndarray:
        return self.shift("close", bars) > self.shift("close", bars + TREND_BARS)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, np.nan, numerator / denominator)


# --- candlesticks ---


def doji(s: Scan) -> Detection:
    hits = (s.range > 0) & (s.body <= DOJI_MAX_BODY * s.range)
    return Detection(
        hits, NEUTRAL, 1 - _ratio(s.body, DOJI_MAX_BODY * s.range), {"body": s.body, "range": s.range}
    )


def _small_body(s: Scan) -> np.ndarray:
    return (s.range > 0) & (s.body > DOJI_MAX_BODY * s.range)


def hammer(s: Scan) -> Detection:
    hits = (
        _small_body(s)
        & (s.lower_shadow >= SHADOW_TO_BODY * s.body)
        & (s.upper_shadow <= SHORT_SHADOW * s.range)
        & s.declining_before(1)
    )
    return Detection(
        hits, BULLISH, _ratio(s.lower_shadow, s.range), {"body": s.body, "lower_shadow": s.lower_shadow}
    )


def shooting_star(s: Scan) -> Detection:
    hits = (
        _small_body(s)
        & (s.upper_shadow >= SHADOW_TO_BODY * s.body)
        & (s.lower_shadow <= SHORT_SHADOW * s.range)
        & s.rising_before(1)
    )
    return Detection(
        hits, BEARISH, _ratio(s.upper_shadow, s.range), {"body": s.body, "upper_shadow": s.upper_shadow}
    )


def _engulfing(s: Scan, bullish: bool) -> Detection:
    open1, close1 = s.shift("open", 1), s.shift("close", 1)
    body1 = np.abs(close1 - open1)
    if bullish:
        shape = (close1 < open1) & (s.close > s.open) & (s.open <= close1) & (s.close >= open1)
        trend = s.declining_before(2)
    else:
        shape = (close1 > open1) & (s.close < s.open) & (s.open >= close1) & (s.close <= open1)
        trend = s.rising_before(2)
    hits = shape & (s.body > body1) & trend
    details = {"previous_open": open1, "previous_close": close1}
    return Detection(hits, BULLISH if bullish else BEARISH, _ratio(s.body, body1), details)


def bullish_engulfing(s: Scan) -> Detection:
    return _engulfing(s, bullish=True)


def bearish_engulfing(s: Scan) -> Detection:
    return _engulfing(s, bullish=False)


def _star(s: Scan, morning: bool) -> Detection:
    open1, close1 = s.shift("open", 2), s.shift("close", 2)
    open2, close2 = s.shift("open", 1), s.shift("close", 1)
    body1, body2 = np.abs(close1 - open1), np.abs(close2 - open2)
    long_first = body1 >= STAR_LONG_BODY * (s.shift("high", 2) - s.shift("low", 2))
    small_star = body2 <= STAR_SMALL_BODY * body1
    middle1 = (open1 + close1) / 2
    if morning:
        shape = (
            (close1 < open1) & (np.maximum(open2, close2) < close1) & (s.close > s.open) & (s.close > middle1)
        )
        recovered = _ratio(s.close - close1, open1 - close1)
        trend = s.declining_before(3)
    else:
        shape = (
            (close1 > open1) & (np.minimum(open2, close2) > close1) & (s.close < s.open) & (s.close < middle1)
        )
        recovered = _ratio(close1 - s.close, close1 - open1)
        trend = s.rising_before(3)
    hits = shape & long_first & small_star & trend
    details = {"first_open": open1, "first_close": close1, "star_open": open2, "star_close": close2}
    return Detection(hits, BULLISH if morning else BEARISH, recovered, details)


def morning_star(s: Scan) -> Detection:
    return _star(s, morning=True)


def evening_star(s: Scan) -> Detection:
    return _star(s, morning=False)


# --- crosses of indicator lines ---


def _crossed(s: Scan, line: str, other: str, upward: bool) -> np.ndarray:
    now, before = s.values[line] - s.values[other], s.shift(line, 1) - s.shift(other, 1)
    return (before <= 0) & (now > 0) if upward else (before >= 0) & (now < 0)


def _sma_cross(s: Scan, upward: bool) -> Detection:
    fast, slow = s.values["sma_50"], s.values["sma_200"]
    gap = np.abs(_ratio(fast - slow, slow)) * 100
    hits = _crossed(s, "sma_50", "sma_200", upward)
    return Detection(hits, BULLISH if upward else BEARISH, gap, {"sma_50": fast, "sma_200": slow})


def golden_cross(s: Scan) -> Detection:
    return _sma_cross(s, upward=True)


def death_cross(s: Scan) -> Detection:
    return _sma_cross(s, upward=False)


def _macd_cross(s: Scan, upward: bool) -> Detection:
    line, signal = s.values["macd"], s.values["macd_signal"]
    strength = np.abs(_ratio(line - signal, s.close)) * 100
    hits = _crossed(s, "macd", "macd_signal", upward)
    return Detection(hits, BULLISH if upward else BEARISH, strength, {"macd": line, "macd_signal": signal})


def macd_bullish_cross(s: Scan) -> Detection:
    return _macd_cross(s, upward=True)


def macd_bearish_cross(s: Scan) -> Detection:
    return _macd_cross(s, upward=False)


# --- leaving a zone or breaking out of a range ---


def rsi_overbought_exit(s: Scan) -> Detection:
    rsi, before = s.values["rsi_14"], s.shift("rsi_14", 1)
    peak = rolling_extreme(before, RSI_EXTREME_BARS, np.fmax)
    hits = (before > RSI_OVERBOUGHT) & (rsi <= RSI_OVERBOUGHT)
    return Detection(
        hits, BEARISH, peak - RSI_OVERBOUGHT, {"rsi_14": rsi, "previous_rsi_14": before, "peak_rsi_14": peak}
    )


def rsi_oversold_exit(s: Scan) -> Detection:
    rsi, before = s.values["rsi_14"], s.shift("rsi_14", 1)
    trough = rolling_extreme(before, RSI_EXTREME_BARS, np.fmin)
    hits = (before < RSI_OVERSOLD) & (rsi >= RSI_OVERSOLD)
    return Detection(
        hits,
        BULLISH,
        RSI_OVERSOLD - trough,
        {"rsi_14": rsi, "previous_rsi_14": before, "trough_rsi_14": trough},
    )


def _bollinger_breakout(s: Scan, upward: bool) -> Detection:
    upper, lower = s.values["bb_upper"], s.values["bb_lower"]
    width = upper - lower
    if upward:
        hits = (s.close > upper) & (s.shift("close", 1) <= s.shift("bb_upper", 1))
        beyond = _ratio(s.close - upper, width)
    else:
        hits = (s.close < lower) & (s.shift("close", 1) >= s.shift("bb_lower", 1))
        beyond = _ratio(lower - s.close, width)
    return Detection(
        hits, BULLISH if upward else BEARISH, beyond, {"close": s.close, "bb_upper": upper, "bb_lower": lower}
    )


def bollinger_breakout_up(s: Scan) -> Detection:
    return _bollinger_breakout(s, upward=True)


def bollinger_breakout_down(s: Scan) -> Detection:
    return _bollinger_breakout(s, upward=False)


def _prior_extreme(s: Scan, column: str, pick: Callable) -> np.ndarray:
    """The highest high (or lowest low) of the 52 weeks before each bar, not counting the bar itself."""
    window = BARS_PER_52_WEEKS[s.timeframe]
    return s.panel.memo(f"prior_{column}_52w", lambda: rolling_extreme(s.shift(column, 1), window, pick))


def high_52w_breakout(s: Scan) -> Detection:
    prior = _prior_extreme(s, "high", np.maximum)
    previous_prior = shifted(prior, 1)
    hits = (s.close > prior) & (s.shift("close", 1) <= previous_prior)
    return Detection(
        hits, BULLISH, _ratio(s.close - prior, prior) * 100, {"close": s.close, "high_52w": prior}
    )


def low_52w_breakout(s: Scan) -> Detection:
    prior = _prior_extreme(s, "low", np.minimum)
    previous_prior = shifted(prior, 1)
    hits = (s.close < prior) & (s.shift("close", 1) >= previous_prior)
    return Detection(
        hits, BEARISH, _ratio(prior - s.close, prior) * 100, {"close": s.close, "low_52w": prior}
    )


def volume_spike(s: Scan) -> Detection:
    average = rolling_mean(s.shift("volume", 1), VOLUME_AVERAGE_BARS)
    ratio = _ratio(s.volume, average)
    hits = (average > 0) & (ratio > VOLUME_SPIKE_RATIO)
    # on a rising close bullish, falling bearish, unchanged neutral
    return Detection(
        hits, s.close - s.shift("close", 1), ratio, {"volume": s.volume, "average_volume": average}
    )


def gap_up(s: Scan) -> Detection:
    previous_high = s.shift("high", 1)
    hits = s.low > previous_high
    return Detection(
        hits,
        BULLISH,
        _ratio(s.low - previous_high, previous_high) * 100,
        {"low": s.low, "previous_high": previous_high},
    )


def gap_down(s: Scan) -> Detection:
    previous_low = s.shift("low", 1)
    hits = s.high < previous_low
    return Detection(
        hits,
        BEARISH,
        _ratio(previous_low - s.high, previous_low) * 100,
        {"high": s.high, "previous_low": previous_low},
    )


# --- the registry ---


@dataclass(frozen=True)
class Pattern:
    """One registered kind. `lookback(timeframe)`: bars before the event bar it reads; `indicators`: the
    registered indicators whose values it reads (their warm-up comes on top)."""

    kind: str
    function: Callable[[Scan], Detection]
    lookback: Callable[[str], int]
    indicators: tuple[str, ...] = ()

    def warmup(self, timeframe: str) -> int:
        needed = [indicators.INDICATORS[name].warmup for name in self.indicators]
        return self.lookback(timeframe) + max(needed, default=0)


def _bars(count: int) -> Callable[[str], int]:
    return lambda timeframe: count


PATTERNS: dict[str, Pattern] = {
    pattern.kind: pattern
    for pattern in (
        Pattern("doji", doji, _bars(0)),
        Pattern("hammer", hammer, _bars(1 + TREND_BARS)),
        Pattern("shooting_star", shooting_star, _bars(1 + TREND_BARS)),
        Pattern("bullish_engulfing", bullish_engulfing, _bars(2 + TREND_BARS)),
        Pattern("bearish_engulfing", bearish_engulfing, _bars(2 + TREND_BARS)),
        Pattern("morning_star", morning_star, _bars(3 + TREND_BARS)),
        Pattern("evening_star", evening_star, _bars(3 + TREND_BARS)),
        Pattern("golden_cross", golden_cross, _bars(1), ("sma_50", "sma_200")),
        Pattern("death_cross", death_cross, _bars(1), ("sma_50", "sma_200")),
        Pattern("macd_bullish_cross", macd_bullish_cross, _bars(1), ("macd",)),
        Pattern("macd_bearish_cross", macd_bearish_cross, _bars(1), ("macd",)),
        Pattern("rsi_overbought_exit", rsi_overbought_exit, _bars(RSI_EXTREME_BARS), ("rsi_14",)),
        Pattern("rsi_oversold_exit", rsi_oversold_exit, _bars(RSI_EXTREME_BARS), ("rsi_14",)),
        Pattern("bollinger_breakout_up", bollinger_breakout_up, _bars(1), ("bbands",)),
        Pattern("bollinger_breakout_down", bollinger_breakout_down, _bars(1), ("bbands",)),
        Pattern("high_52w_breakout", high_52w_breakout, lambda tf: BARS_PER_52_WEEKS[tf] + 1),
        Pattern("low_52w_breakout", low_52w_breakout, lambda tf: BARS_PER_52_WEEKS[tf] + 1),
        Pattern("volume_spike", volume_spike, _bars(VOLUME_AVERAGE_BARS)),
        Pattern("gap_up", gap_up, _bars(1)),
        Pattern("gap_down", gap_down, _bars(1)),
    )
}
KINDS: tuple[str, ...] = tuple(PATTERNS)
NEEDED_INDICATORS: list[str] = sorted({name for p in PATTERNS.values() for name in p.indicators})
EVENT_COLUMNS = ["row", "column", "kind", "direction", "strength", "details"]


def warmup_bars(*, timeframe: str) -> int:
    """History a rescan needs before its first rescanned bar to find exactly what a full scan finds."""
    return max(pattern.warmup(timeframe) for pattern in PATTERNS.values())


def detect_panel(panel: Panel, values: dict[str, np.ndarray], *, timeframe: str) -> pd.DataFrame:
    """Every event in a Panel: its panel row and column, kind, direction, strength and details (a dict)."""
    scan = Scan(panel, values, timeframe)
    frames = []
    for pattern in PATTERNS.values():
        found = pattern.function(scan)
        rows, columns = np.nonzero(found.hits)
        if not len(rows):
            continue
        direction = found.direction
        if not isinstance(direction, str):
            sign = np.sign(direction[rows, columns])
            direction = np.where(sign > 0, BULLISH, np.where(sign < 0, BEARISH, NEUTRAL))
        names = list(found.details)
        picked = [significant(found.details[name][rows, columns]).tolist() for name in names]
        details = [dict(zip(names, _plain(values), strict=True)) for values in zip(*picked, strict=True)]
        frames.append(
            pd.DataFrame(
                {
                    "row": rows,
                    "column": columns,
                    "kind": pattern.kind,
                    "direction": direction,
                    "strength": significant(found.strength[rows, columns]),
                    "details": details,
                }
            )
        )
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in EVENT_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Values rounded to `digits` significant digits (NaN and 0 stay as they are)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
    scale = 10.0 ** (digits - 1 - np.where(np.isfinite(magnitude), magnitude, 0.0))
    return np.round(values * scale) / scale


def _plain(values: tuple) -> list:
    """JSON-ready numbers: NaN (no value) becomes None."""
    return [None if value != value else value for value in values]


def detect(
    bars: pd.DataFrame,
    *,
    timeframe: str,
    by: str | None = None,
    values: pd.DataFrame | None = None,
    session_time_zone: str | None = None,
) -> pd.DataFrame:
    """Every pattern event in bars (oldest first within each series of `by`), one row per (bar, kind):
    `bar` (the index label of the bar in `bars`), kind, direction, strength, details.

    `values` are the bars' indicators as analysis.indicators.compute returns them; computed when omitted.
    """
    panel, index = build_panel(bars, by=by, session_time_zone=session_time_zone)
    if values is None:
        arrays = indicators.compute_panel(panel, names=NEEDED_INDICATORS)
    else:
        arrays = {name: _place(values[name].to_numpy(), panel, index) for name in values.columns}
    events = detect_panel(panel, arrays, timeframe=timeframe)
    found = index.locate(events["row"].to_numpy(int), events["column"].to_numpy(int), panel.close.shape)
    bar = bars.index.to_numpy()[found]
    return events.drop(columns=["row", "column"]).assign(bar=bar)[
        ["bar", "kind", "direction", "strength", "details"]
    ]


def _place(values: np.ndarray, panel: Panel, index: PanelIndex) -> np.ndarray:
    out = np.full(panel.close.shape, np.nan)
    out[index.row, index.column] = values
    return out
