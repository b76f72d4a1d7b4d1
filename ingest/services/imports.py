"""Bringing bars in: from a file or folder (bulk) and from a provider (one ticker at a time)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import DatabaseError, transaction

from ingest.errors import StorageError
from ingest.models import Ticker, Timeframe, normalize_symbol
from ingest.ratelimit import acquire_provider_slot
from ingest.services.derive import derive_longer_bars
from ingest.services.storage import UpsertCounts, ticker_ids_for, upsert_bars, upsert_bars_in_batches
from ingest.validation import validate_bars

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportResult:
    rows_read: int
    stored: UpsertCounts
    rejected: dict[str, int]
    symbols: int
    seconds: float
    derived: dict[str, UpsertCounts] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "stored": {
                "new": self.stored.new,
                "updated": self.stored.updated,
                "unchanged": self.stored.unchanged,
            },
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": self.rejected_total,
            "symbols": self.symbols,
            "derived": {
                tf: {"new": c.new, "updated": c.updated, "unchanged": c.unchanged}
                for tf, c in self.derived.items()
            },
            "seconds": round(self.seconds, 3),
        }


def import_bars_file(
    *, path: Path, timeframe: str = Timeframe.DAILY, symbols: set[str] | None = None, derive: bool = True
) -> ImportResult:
    """Import a CSV file or folder of bars; importing the same file again stores nothing new."""
    from ingest.providers.csv import read_bars_file

    started = time.perf_counter()
    wanted = {normalize_symbol(s) for s in symbols} if symbols else None
    frame = read_bars_file(path, symbols=wanted)
    return import_bars_frame(frame=frame, timeframe=timeframe, source="csv", derive=derive, started=started)


def import_bars_frame(
    *, frame: pd.DataFrame, timeframe: str, source: str, derive: bool = True, started: float | None = None
) -> ImportResult:
    """Validate and store a multi-symbol frame (column `symbol` + providers.base.BAR_COLUMNS)."""
    started = started if started is not None else time.perf_counter()
    checked = validate_bars(frame)
    bars = checked.bars
    ids = ticker_ids_for(symbols=bars["symbol"].unique().tolist())
    bars = bars.assign(ticker_id=bars["symbol"].map(ids).astype("int64"))
    stored = upsert_bars_in_batches(bars=bars, timeframe=timeframe, source=source)
    derived = {}
    if derive and timeframe == Timeframe.DAILY and not bars.empty:
        derived = derive_longer_bars(ticker_ids=sorted(ids.values()), since=bars["ts"].min())
    result = ImportResult(
        rows_read=len(frame),
        stored=stored,
        rejected=checked.rejected,
        symbols=len(ids),
        seconds=time.perf_counter() - started,
        derived=derived,
    )
    logger.info("import timeframe=%s source=%s %s", timeframe, source, result.as_dict())
    return result


@dataclass(frozen=True)
class StoreResult:
    symbol: str
    timeframe: str
    rows_read: int
    stored: UpsertCounts
    rejected: dict[str, int]

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def store_bars(*, ticker: Ticker, timeframe: str, bars: pd.DataFrame, source: str) -> StoreResult:
    """Validate and upsert one ticker's bars in one transaction; rows already stored stay as they are."""
    checked = validate_bars(bars)
    valid = checked.bars.assign(ticker_id=ticker.id)
    try:
        stored = upsert_bars(bars=valid, timeframe=timeframe, source=source)
    except DatabaseError as error:
        raise StorageError(f"storing {ticker.symbol} {timeframe} bars failed: {error}") from error
    return StoreResult(ticker.symbol, timeframe, len(bars), stored, checked.rejected)


def fetch_and_store(
    *,
    ticker: Ticker,
    timeframe: str,
    start: datetime,
    end: datetime,
    provider_name: str | None = None,
    max_rate_limit_wait_seconds: float | None = None,
    derive: bool = True,
) -> StoreResult:
    """Fetch one ticker's bars from a provider and store them; weekly/monthly are then re-derived from daily
    (unless `derive` is False: a pipeline run derives 50 tickers at once in its analysis batches).

    The provider's rate limit (ingest.ratelimit) is waited for up to `max_rate_limit_wait_seconds`
    (default STOCKHUB_RATE_LIMIT_MAX_WAIT_SECONDS); a longer wait raises RateLimitWait.
    """
    fetched = fetch_from_provider(
        ticker=ticker,
        timeframe=timeframe,
        start=start,
        end=end,
        provider_name=provider_name,
        max_rate_limit_wait_seconds=max_rate_limit_wait_seconds,
    )
    return store_fetched(fetched, derive=derive)


@dataclass(frozen=True)
class FetchedBars:
    """A provider's answer for one ticker's window, not stored yet."""

    ticker: Ticker
    timeframe: str
    start: datetime
    bars: pd.DataFrame
    source: str


def fetch_from_provider(
    *,
    ticker: Ticker,
    timeframe: str,
    start: datetime,
    end: datetime,
    provider_name: str | None = None,
    max_rate_limit_wait_seconds: float | None = None,
) -> FetchedBars:
    """The network half of fetch_and_store: no database work, so no transaction is held open across it."""
    from ingest.providers import get_provider

    provider = get_provider(provider_name)
    if max_rate_limit_wait_seconds is None:
        max_rate_limit_wait_seconds = settings.STOCKHUB_RATE_LIMIT_MAX_WAIT_SECONDS
    # One slot per fetch: a fetch is one request, save the rare extra page or Massive's ticker lookup.
    acquire_provider_slot(provider=provider.name, max_wait_seconds=max_rate_limit_wait_seconds)
    frame = provider.fetch_bars(ticker.symbol, timeframe, start, end)
    return FetchedBars(ticker=ticker, timeframe=timeframe, start=start, bars=frame, source=provider.name)


def store_fetched(fetched: FetchedBars, *, derive: bool = True) -> StoreResult:
    """The database half of fetch_and_store; inside a caller's transaction it joins it (a fetch job commits
    its bars with its own outcome)."""
    ticker, timeframe, start = fetched.ticker, fetched.timeframe, fetched.start
    # One transaction for the daily bars and the weekly/monthly bars derived from them: a crash or a database
    # restart in between leaves neither, never daily bars whose weekly and monthly lag behind.
    try:
        with transaction.atomic(savepoint=False):
            result = store_bars(ticker=ticker, timeframe=timeframe, bars=fetched.bars, source=fetched.source)
            if derive and timeframe == Timeframe.DAILY and result.stored.new + result.stored.updated:
                derive_longer_bars(
                    ticker_ids=[ticker.id],
                    since=pd.Timestamp(start, tz="UTC") if start.tzinfo is None else pd.Timestamp(start),
                )
    except DatabaseError as error:
        raise StorageError(f"storing {ticker.symbol} {timeframe} bars failed: {error}") from error
    logger.info(
        "fetched ticker=%s timeframe=%s provider=%s read=%s new=%s updated=%s rejected=%s",
        ticker.symbol,
        timeframe,
        fetched.source,
        result.rows_read,
        result.stored.new,
        result.stored.updated,
        result.rejected,
    )
    return result
