"""Every pattern kind found on a series built to show it (and not where its conditions fail)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import indicators, patterns
from analysis.models import PatternKind
from analysis.tests.factories import candles, random_walk

DOCS = Path(__file__).resolve().parents[2] / "docs" / "patterns.md"


def ramp(start: float, step: float, bars: int) -> list[tuple[float, float, float, float]]:
    """Small candles whose closes move by `step` per bar (a decline when step < 0)."""
    rows = []
    for i in range(bars):
        close = start + step * i
        open_ = close - step / 2
        rows.append((open_, max(open_, close) + 0.2, min(open_, close) - 0.2, close))
    return rows


def found(bars: pd.DataFrame, kind: str) -> pd.DataFrame:
    events = patterns.detect(bars, timeframe="daily")
    return events[events["kind"] == kind].set_index("bar")


def closes(values: list[float], *, volume: list[int] | None = None) -> pd.DataFrame:
    bars = candles([(c, c + 1, c - 1, c) for c in values])
    if volume is not None:
        bars["volume"] = volume
    return bars


def test_every_kind_has_a_detector_and_a_definition_in_the_docs():
    assert set(patterns.KINDS) == set(PatternKind.values)
    text = DOCS.read_text()
    missing = [kind for kind in patterns.KINDS if f"`{kind}`" not in text]
    assert not missing


def test_doji_a_body_of_at_most_a_tenth_of_the_range():
    bars = candles([(10, 11, 9, 10.05), (10, 11, 9, 10.5)])
    events = found(bars, "doji")
    assert list(events.index) == [0]
    assert events.loc[0, "direction"] == "neutral"
    assert events.loc[0, "strength"] == pytest.approx(0.75)  # body 0.05 of the 0.2 allowed


def test_hammer_after_a_decline_but_not_after_a_rise():
    hammer = (13.0, 13.45, 12.0, 13.4)  # lower shadow 1.0 >= 2 x body 0.4, upper shadow 0.05
    after_decline = candles([*ramp(20, -1, 7), hammer])
    events = found(after_decline, "hammer")
    assert list(events.index) == [7]
    assert events.loc[7, "direction"] == "bullish"
    assert events.loc[7, "strength"] == pytest.approx(1.0 / 1.45)
    assert found(candles([*ramp(5, 1, 7), hammer]), "hammer").empty


def test_shooting_star_after_a_rise():
    star = (30.4, 31.6, 29.95, 30.0)
    events = found(candles([*ramp(24, 1, 7), star]), "shooting_star")
    assert list(events.index) == [7] and events.loc[7, "direction"] == "bearish"
    assert found(candles([*ramp(40, -1, 7), star]), "shooting_star").empty


def test_bullish_engulfing_body_covers_the_previous_bearish_body():
    bars = candles([*ramp(20, -1, 7), (14.5, 14.7, 13.8, 14.0), (13.9, 14.9, 13.8, 14.8)])
    events = found(bars, "bullish_engulfing")
    assert list(events.index) == [8]
    assert events.loc[8, "strength"] == pytest.approx(0.9 / 0.5)
    not_covering = candles([*ramp(20, -1, 7), (14.5, 14.7, 13.8, 14.0), (14.1, 14.9, 13.8, 14.8)])
    assert found(not_covering, "bullish_engulfing").empty


def test_bearish_engulfing_after_a_rise():
    bars = candles([*ramp(10, 1, 7), (16.5, 17.2, 16.3, 17.0), (17.1, 17.2, 16.0, 16.2)])
    events = found(bars, "bearish_engulfing")
    assert list(events.index) == [8] and events.loc[8, "direction"] == "bearish"


def test_morning_star_long_bearish_bar_small_star_below_and_a_recovery_past_the_midpoint():
    bars = candles(
        [*ramp(20, -1, 7), (14, 14.1, 11.9, 12), (11.5, 11.7, 11.3, 11.6), (11.8, 13.6, 11.7, 13.5)]
    )
    events = found(bars, "morning_star")
    assert list(events.index) == [9]
    assert events.loc[9, "strength"] == pytest.approx(0.75)  # recovered 1.5 of the 2.0 body
    weak_recovery = candles(
        [*ramp(20, -1, 7), (14, 14.1, 11.9, 12), (11.5, 11.7, 11.3, 11.6), (11.8, 12.9, 11.7, 12.8)]
    )
    assert found(weak_recovery, "morning_star").empty


def test_evening_star_mirrors_the_morning_star():
    bars = candles(
        [*ramp(10, 1, 7), (16, 18.1, 15.9, 18), (18.5, 18.7, 18.3, 18.4), (18.2, 18.3, 16.4, 16.5)]
    )
    events = found(bars, "evening_star")
    assert list(events.index) == [9] and events.loc[9, "direction"] == "bearish"


@pytest.mark.parametrize(("kind", "step"), [("golden_cross", 1.0), ("death_cross", -1.0)])
def test_sma_50_crossing_the_sma_200(kind, step):
    bars = closes([100.0] * 200 + [100 + step * i for i in range(1, 61)])
    events = found(bars, kind)
    assert list(events.index) == [200]  # the first bar the 50-bar mean leaves the 200-bar mean
    assert events.loc[200, "details"]["sma_50"] == pytest.approx(100 + step / 50)


def test_macd_crosses_are_exactly_where_the_line_crosses_its_signal():
    bars = random_walk(400, seed=11)
    values = indicators.compute(bars)
    difference = (values["macd"] - values["macd_signal"]).to_numpy()
    before = np.concatenate([[np.nan], difference[:-1]])
    assert list(found(bars, "macd_bullish_cross").index) == list(
        np.flatnonzero((before <= 0) & (difference > 0))
    )
    assert list(found(bars, "macd_bearish_cross").index) == list(
        np.flatnonzero((before >= 0) & (difference < 0))
    )
    assert len(found(bars, "macd_bullish_cross")) > 5


def test_rsi_leaving_overbought_and_oversold():
    up_then_down = closes([100 + i for i in range(20)] + [119 - 2 * i for i in range(1, 10)])
    rsi = indicators.compute(up_then_down)["rsi_14"]
    exits = found(up_then_down, "rsi_overbought_exit")
    assert list(exits.index) == [int(np.flatnonzero((rsi.shift(1) > 70) & (rsi <= 70))[0])]
    assert exits["strength"].iloc[0] == pytest.approx(30)  # it had reached 100
    down_then_up = closes([200 - i for i in range(20)] + [181 + 2 * i for i in range(1, 10)])
    entries = found(down_then_up, "rsi_oversold_exit")
    assert len(entries) == 1 and entries["direction"].iloc[0] == "bullish"


@pytest.mark.parametrize(
    ("kind", "jump"), [("bollinger_breakout_up", 110.0), ("bollinger_breakout_down", 90.0)]
)
def test_bollinger_breakout_on_the_first_close_outside_the_band(kind, jump):
    bars = closes([100.0, 101.0] * 15 + [jump, jump + (jump - 100) / 10])
    events = found(bars, kind)
    assert list(events.index) == [30]  # the next close is outside too, but it did not break out again


@pytest.mark.parametrize(("kind", "new"), [("high_52w_breakout", 110.0), ("low_52w_breakout", 90.0)])
def test_52_week_breakout_on_the_first_close_beyond_the_prior_52_weeks(kind, new):
    bars = closes([95.0, 105.0] * 130 + [new, new + (new - 100) / 10])
    events = found(bars, kind)
    assert list(events.index) == [260]
    prior = 106 if new > 100 else 94  # the highest high / lowest low of the alternating closes 95 and 105
    assert events.loc[260, "strength"] == pytest.approx(abs(new - prior) / prior * 100)
    assert found(closes([95.0, 105.0] * 120 + [new]), kind).empty  # less than 252 bars of history


def test_volume_spike_over_three_times_the_previous_20_bar_average():
    bars = closes([10.0] * 22 + [11.0, 10.5], volume=[1000] * 22 + [3500, 2900])
    events = found(bars, "volume_spike")
    assert list(events.index) == [22]
    assert events.loc[22, "strength"] == pytest.approx(3.5)
    assert events.loc[22, "direction"] == "bullish"  # the close rose


@pytest.mark.parametrize(("kind", "bar"), [("gap_up", (12, 13, 11.5, 12.5)), ("gap_down", (8, 8.5, 7, 7.5))])
def test_gaps_leave_a_space_between_two_bars_ranges(kind, bar):
    bars = candles([(10, 11, 9, 10), bar, (10, 11, 9, 10)])
    events = found(bars, kind)
    assert list(events.index) == [1]
    assert events.loc[1, "strength"] == pytest.approx(0.5 / 11 * 100 if kind == "gap_up" else 0.5 / 9 * 100)


def test_many_series_at_once_find_what_each_finds_alone():
    one, two = random_walk(300, seed=4), random_walk(280, seed=5)
    both = patterns.detect(
        pd.concat([one.assign(key=1), two.assign(key=2)], ignore_index=True), timeframe="daily", by="key"
    )
    alone = pd.concat(
        [
            patterns.detect(one, timeframe="daily"),
            patterns.detect(two, timeframe="daily").assign(bar=lambda e: e.bar + 300),
        ]
    )
    key = ["bar", "kind"]
    pd.testing.assert_frame_equal(
        both.sort_values(key).reset_index(drop=True), alone.sort_values(key).reset_index(drop=True)
    )
