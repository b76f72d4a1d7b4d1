"""detect_patterns stores each event once, removes events a correction undoes, and announces new ones."""

import logging

import pandas as pd
import pytest

from analysis.models import AnalysisState, PatternEvent
from analysis.services import analyze_ticker, detect_patterns
from analysis.tests.conftest import received
from analysis.tests.factories import candles, random_walk, store

pytestmark = pytest.mark.django_db(transaction=True)


def with_gap_up_on_the_last_bar(bars: pd.DataFrame) -> pd.DataFrame:
    last = bars.iloc[-2]
    bars = bars.copy()
    bars.loc[bars.index[-1], ["open", "high", "low", "close"]] = [
        last.high * 1.05,
        last.high * 1.07,
        last.high * 1.04,
        last.high * 1.06,
    ]
    return bars


def test_scanning_twice_stores_each_event_once():
    ticker = store("AAPL", random_walk(400, seed=7))
    first = detect_patterns(ticker=ticker, timeframe="daily")
    assert first.full and first.events.new > 20
    assert PatternEvent.objects.filter(ticker=ticker).count() == first.events.new
    again = detect_patterns(ticker=ticker, timeframe="daily")
    rebuilt = detect_patterns(ticker=ticker, timeframe="daily", full=True)
    assert (again.events.new, again.events.updated, again.removed) == (0, 0, 0)
    assert (rebuilt.events.new, rebuilt.events.updated, rebuilt.removed) == (0, 0, 0)
    assert rebuilt.events.unchanged == first.events.new
    assert PatternEvent.objects.filter(ticker=ticker).count() == first.events.new


def test_a_corrected_bar_removes_the_event_it_no_longer_shows():
    bars = with_gap_up_on_the_last_bar(random_walk(300, seed=8))
    ticker = store("MSFT", bars)
    detect_patterns(ticker=ticker, timeframe="daily")
    last_ts = bars["ts"].iloc[-1]
    assert PatternEvent.objects.filter(ticker=ticker, ts=last_ts, kind="gap_up").exists()
    corrected = bars.iloc[[-1]].copy()
    corrected["low"] = bars["high"].iloc[-2] * 0.99  # the bar now overlaps the previous one
    store("MSFT", corrected)
    result = detect_patterns(ticker=ticker, timeframe="daily")
    assert not result.full and result.removed >= 1
    assert not PatternEvent.objects.filter(ticker=ticker, ts=last_ts, kind="gap_up").exists()


def test_new_events_on_the_newest_bars_are_published_once_in_the_stockhub_envelope(subscriber):
    bars = with_gap_up_on_the_last_bar(random_walk(300, seed=9))
    ticker = store("NVDA", bars.iloc[:-1])
    first = detect_patterns(ticker=ticker, timeframe="daily")
    history = received(subscriber)
    assert len(history) == first.published <= 5 * 4  # only the 5 newest bars' events, never years of them
    store("NVDA", bars.iloc[[-1]])
    result = detect_patterns(ticker=ticker, timeframe="daily")
    messages = received(subscriber)
    assert result.published == len(messages) >= 1
    gap = next(m for m in messages if m["payload"]["kind"] == "gap_up")
    assert {k: gap[k] for k in ("event", "source", "version")} == {
        "event": "pattern.detected",
        "source": "stockhub",
        "version": "1",
    }
    assert gap["timestamp"].endswith("Z") and pd.Timestamp(gap["timestamp"]).tzinfo is not None
    event = PatternEvent.objects.get(ticker=ticker, ts=bars["ts"].iloc[-1], kind="gap_up")
    assert gap["payload"] == {
        "id": event.id,
        "symbol": "NVDA",
        "ticker_id": ticker.id,
        "timeframe": "daily",
        "ts": bars["ts"].iloc[-1].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": "gap_up",
        "direction": "bullish",
        "strength": pytest.approx(event.strength),
        "details": event.details,
    }
    detect_patterns(ticker=ticker, timeframe="daily")
    assert received(subscriber, wait_seconds=0.5) == []  # nothing new, nothing announced


def test_with_redis_down_events_are_still_stored_and_a_warning_is_logged(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/1"  # nothing listens on port 1
    ticker = store("AMD", with_gap_up_on_the_last_bar(random_walk(300, seed=10)))
    with caplog.at_level(logging.WARNING, logger="stockhub.events"):
        result = analyze_ticker(ticker_id=ticker.id, timeframe="daily")
    assert result.patterns.events.new > 0 and result.patterns.published == 0
    assert PatternEvent.objects.filter(ticker=ticker, kind="gap_up").exists()
    assert "could not publish" in caplog.text
    state = AnalysisState.objects.get(ticker=ticker, timeframe="daily")
    assert state.indicators_through == state.patterns_through == ticker.bars.latest("ts").ts


def test_analyze_ticker_reads_the_bars_once_for_indicators_and_patterns():
    ticker = store("INTC", candles([(10, 11, 9, 10.05)] * 30))
    result = analyze_ticker(ticker_id=ticker.id, timeframe="daily")
    assert result.indicators.rows.new == 30
    assert result.patterns.events.new == 30  # every bar is a doji
    assert result.indicators.bars_read == result.patterns.bars_read == 30
