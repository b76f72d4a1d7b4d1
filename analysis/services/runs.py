"""Analysing stored bars: load a window of bars, run the maths, store indicator rows and pattern events.

Incremental by default. A series analysed before is recomputed from `STOCKHUB_FETCH_OVERLAP_DAYS` before
the newest bar it was analysed through (a fetch may have corrected bars that far back), loading enough
older bars first that every rewritten value equals a full recompute (docs/indicators.md, "Incremental").
`full=True` recomputes and rewrites a whole series. Either way, running it twice changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from analysis import indicators, patterns, selectors
from analysis.errors import invalid_input, storage_failed
from analysis.panel import PanelIndex, build_panel
from analysis.services import storage
from ingest.models import Timeframe
from ingest.services import UpsertCounts
from notifications.services import notify_patterns_detected
from stockhub.events import publish_events

logger = logging.getLogger(__name__)

PATTERN_CHANNEL = "stockhub:patterns:detected"
PATTERN_EVENT = "pattern.detected"
# Only events on a ticker's newest bars are announced: a first analysis or a --full rebuild stores years of
# history (about 270k events for the S&P 500's five years), which is not news to anyone.
PUBLISH_RECENT_BARS = 5
# Tickers per batch (one read, one transaction): 50 daily series are ~63k bars, ~40 MB of arrays and about
# a second of work on PostgreSQL, and a failed batch loses no other ticker's results.
BATCH_TICKERS = 50
# A weekly or monthly bar is derived from its whole period's daily bars, so a daily bar corrected within the
# fetch overlap can change the bar of the period before the newest one too: rewrite from one period earlier.
DERIVED_PERIOD = {Timeframe.WEEKLY: timedelta(days=7), Timeframe.MONTHLY: timedelta(days=31)}


@dataclass
class RunCounts:
    """What one run did (summed over batches). Internal: the public results are built from it."""

    tickers: int = 0
    tickers_full: int = 0  # tickers whose every row was rewritten (first analysis or full=True)
    bars_read: int = 0
    rows: UpsertCounts = field(default_factory=UpsertCounts)
    events: UpsertCounts = field(default_factory=UpsertCounts)
    events_removed: int = 0
    published: int = 0
    seconds_loading: float = 0.0
    seconds_indicators: float = 0.0
    seconds_patterns: float = 0.0

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Plan:
    """Per ticker: the first bar to load (None: from its first bar) and the first bar whose results are
    rewritten (None: all of them); `anchors`: stored OBV at the first loaded bar, for tail recomputes."""

    starts: dict[int, datetime | None]
    rewrite_from: dict[int, datetime | None]
    anchors: dict[int, float]


def check_timeframe(timeframe: str) -> None:
    if timeframe not in Timeframe.values:
        raise invalid_input(f"unknown timeframe {timeframe!r}; use one of {', '.join(Timeframe.values)}")


def warmup_bars(*, timeframe: str, with_patterns: bool) -> int:
    """Bars loaded before the first rewritten one, so a tail recompute equals a full one."""
    intraday = timeframe == Timeframe.HOURLY
    needed = indicators.warmup_bars(intraday=intraday)
    return max(needed, patterns.warmup_bars(timeframe=timeframe)) if with_patterns else needed


def plan_run(
    *, ticker_ids: list[int], timeframe: str, full: bool, with_indicators: bool, with_patterns: bool
) -> Plan:
    """Where each ticker's window starts and where rewriting starts (see the module docstring)."""
    states = {} if full else selectors.analysed_through(ticker_ids=ticker_ids, timeframe=timeframe)
    overlap = timedelta(days=settings.STOCKHUB_FETCH_OVERLAP_DAYS) + DERIVED_PERIOD.get(
        timeframe, timedelta(0)
    )
    warmup = warmup_bars(timeframe=timeframe, with_patterns=with_patterns)
    starts: dict[int, datetime | None] = {}
    rewrite_from: dict[int, datetime | None] = {}
    for ticker_id in ticker_ids:
        indicators_through, patterns_through = states.get(ticker_id, (None, None))
        marks = [
            m
            for m, wanted in ((indicators_through, with_indicators), (patterns_through, with_patterns))
            if wanted
        ]
        if any(mark is None for mark in marks):
            starts[ticker_id] = rewrite_from[ticker_id] = None
            continue
        rewrite_from[ticker_id] = min(marks) - overlap
        starts[ticker_id] = selectors.bar_before(
            ticker_id=ticker_id, timeframe=timeframe, ts=rewrite_from[ticker_id], bars_back=warmup
        )
    anchors: dict[int, float] = {}
    if with_indicators:
        # OBV is a running total from a series' first bar: a window starting later continues from the
        # stored value. No stored value (never computed, or a gap) means recomputing from the first bar.
        tails = {t: s for t, s in starts.items() if s is not None}
        stored = selectors.stored_values(at=tails, timeframe=timeframe, column="obv")
        for ticker_id in tails:
            if stored.get(ticker_id) is None:
                starts[ticker_id] = None
            else:
                anchors[ticker_id] = stored[ticker_id]
    return Plan(starts, rewrite_from, anchors)


def run_batch(
    *, ticker_ids: list[int], timeframe: str, full: bool, with_indicators: bool, with_patterns: bool
) -> RunCounts:
    """Analyse a batch of tickers in one transaction; announce new recent events after commit."""
    started = time.perf_counter()
    plan = plan_run(
        ticker_ids=ticker_ids,
        timeframe=timeframe,
        full=full,
        with_indicators=with_indicators,
        with_patterns=with_patterns,
    )
    bars = selectors.bars_frame(starts=plan.starts, timeframe=timeframe)
    counts = RunCounts(bars_read=len(bars), seconds_loading=time.perf_counter() - started)
    if bars.empty:
        return counts
    present = bars["ticker_id"].unique().tolist()
    counts.tickers = len(present)
    counts.tickers_full = sum(1 for t in present if plan.rewrite_from[t] is None)
    outbox = Outbox()
    try:
        with transaction.atomic():
            _analyse(bars, plan, timeframe, with_indicators, with_patterns, counts, outbox)
            through = bars.groupby("ticker_id", sort=False)["ts"].max()
            storage.save_states(
                timeframe=timeframe,
                through={int(t): ts.to_pydatetime() for t, ts in through.items()},
                indicators=with_indicators,
                patterns=with_patterns,
            )
            transaction.on_commit(outbox.send)
    except DatabaseError as error:
        raise storage_failed(
            f"storing analysis of {len(present)} {timeframe} tickers failed: {error}"
        ) from error
    counts.published = outbox.published
    return counts


def _analyse(
    bars: pd.DataFrame,
    plan: Plan,
    timeframe: str,
    with_indicators: bool,
    with_patterns: bool,
    counts: RunCounts,
    outbox: Outbox,
) -> None:
    started = time.perf_counter()
    zone = settings.STOCKHUB_MARKET_TIME_ZONE if timeframe == Timeframe.HOURLY else None
    panel, index = build_panel(bars, by="ticker_id", session_time_zone=zone)
    names = None if with_indicators else patterns.NEEDED_INDICATORS
    values = indicators.compute_panel(panel, names=names)
    ticker_ids = index.keys.to_numpy()
    since = bars["ticker_id"].map(
        pd.Series(
            [plan.rewrite_from[int(t)] for t in ticker_ids], index=ticker_ids, dtype="datetime64[us, UTC]"
        )
    )
    rewritten = (since.isna() | (bars["ts"] >= since)).to_numpy()
    if with_indicators:
        anchor = np.array([plan.anchors.get(int(t), np.nan) for t in ticker_ids])
        values["obv"] = values["obv"] + np.where(np.isnan(anchor), 0.0, anchor - values["obv"][0])
        counts.rows = _store_rows(bars, rewritten, values, index, timeframe)
    counts.seconds_indicators = time.perf_counter() - started
    if with_patterns:
        started = time.perf_counter()
        events = patterns.detect_panel(panel, values, timeframe=timeframe)
        at = index.locate(events["row"].to_numpy(int), events["column"].to_numpy(int), panel.close.shape)
        events = events.assign(ticker_id=bars["ticker_id"].to_numpy()[at], ts=bars["ts"].array[at])
        events = events[rewritten[at]]
        recent = (
            bars.groupby("ticker_id", sort=False).tail(PUBLISH_RECENT_BARS).groupby("ticker_id")["ts"].min()
        )
        stored = storage.replace_events(
            events=events,
            timeframe=timeframe,
            since={int(t): plan.rewrite_from[int(t)] for t in ticker_ids},
            recent={int(t): ts.to_pydatetime() for t, ts in recent.items()},
        )
        counts.events, counts.events_removed = stored.stored, stored.removed
        outbox.add(stored.new_recent_ids)
        counts.seconds_patterns = time.perf_counter() - started


def _store_rows(
    bars: pd.DataFrame,
    rewritten: np.ndarray,
    values: dict[str, np.ndarray],
    index: PanelIndex,
    timeframe: str,
) -> UpsertCounts:
    rows = bars.loc[rewritten, ["ticker_id", "ts"]].reset_index(drop=True)
    for name in indicators.OUTPUT_COLUMNS:
        rows[name] = index.gather(values[name])[rewritten] if name in values else np.nan
    return storage.upsert_indicator_rows(rows=rows, timeframe=timeframe)


class Outbox:
    """New recent events, announced once the transaction that stored them has committed."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.published = 0

    def add(self, ids: list[int]) -> None:
        self.ids.extend(ids)

    def send(self) -> None:
        if not self.ids:
            return
        payloads = [_payload(event) for event in selectors.events_by_id(ids=self.ids)]
        self.published = publish_events(PATTERN_CHANNEL, PATTERN_EVENT, payloads)
        notify_patterns_detected(patterns=payloads)  # webhooks of the tickers' holders; one query if none


def _payload(event: dict) -> dict:
    return {
        "id": event["id"],
        "symbol": event["symbol"],
        "ticker_id": event["ticker_id"],
        "timeframe": event["timeframe"],
        "ts": event["ts"],
        "kind": event["kind"],
        "direction": event["direction"],
        "strength": event["strength"],
        "details": event["details"],
    }


def run_many(
    *,
    ticker_ids: list[int],
    timeframe: str,
    full: bool,
    with_indicators: bool,
    with_patterns: bool,
    workers: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunCounts:
    """run_batch over batches of BATCH_TICKERS, on `workers` threads (PostgreSQL only: numpy, pandas and
    the database release the GIL for most of the work); on_progress(done, total) after each batch."""
    batches = list(_batches(ticker_ids))
    total, done, result = len(ticker_ids), 0, RunCounts()

    def one(batch: list[int]) -> RunCounts:
        try:
            return run_batch(
                ticker_ids=batch,
                timeframe=timeframe,
                full=full,
                with_indicators=with_indicators,
                with_patterns=with_patterns,
            )
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # each pool thread opened its own connection

    if workers <= 1 or len(batches) <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        for batch in batches:
            result += one(batch)
            done += len(batch)
            if on_progress:
                on_progress(done, total)
        return result
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analysis") as pool:
        futures = {pool.submit(one, batch): len(batch) for batch in batches}
        for future in as_completed(futures):
            result += future.result()
            done += futures[future]
            if on_progress:
                on_progress(done, total)
    return result


def _batches(ticker_ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ticker_ids), BATCH_TICKERS):
        yield ticker_ids[start : start + BATCH_TICKERS]
