"""Idempotent bar storage: validated bars are upserted on (ticker, timeframe, ts).

Storing the same bars twice adds and changes nothing; a corrected value overwrites the stored one. On
PostgreSQL the rows go through COPY into a temporary table and one INSERT ... ON CONFLICT DO UPDATE that
touches only rows whose values changed; on SQLite, through bulk_create(update_conflicts=True).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from ingest.errors import StorageError
from ingest.models import Bar, Ticker, normalize_symbol
from stockhub import pgcopy

logger = logging.getLogger(__name__)

VALUE_COLUMNS = ["open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.new + other.new, self.updated + other.updated, self.unchanged + other.unchanged
        )


def ticker_ids_for(*, symbols: list[str] | set[str], create: bool = True) -> dict[str, int]:
    """symbol -> ticker id for already-normalised symbols; missing tickers are created when `create`."""
    wanted = set(symbols)
    found = dict(Ticker.objects.filter(symbol__in=wanted).values_list("symbol", "id"))
    missing = wanted - found.keys()
    if missing and create:
        Ticker.objects.bulk_create(
            [Ticker(symbol=normalize_symbol(s)) for s in sorted(missing)], ignore_conflicts=True
        )
        found.update(Ticker.objects.filter(symbol__in=missing).values_list("symbol", "id"))
    return found


def upsert_bars(*, bars: pd.DataFrame, timeframe: str, source: str) -> UpsertCounts:
    """Write validated bars (columns ticker_id, ts, open, high, low, close, volume) in the caller's transaction.

    Running it twice with the same rows changes nothing the second time (all counted `unchanged`).
    """
    if bars.empty:
        return UpsertCounts()
    if connection.vendor == "postgresql":
        return _upsert_postgres(bars, timeframe, source)
    return _upsert_generic(bars, timeframe, source)


_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS bar_stage (
    ticker_id bigint, ts timestamptz, open float8, high float8, low float8, close float8, volume bigint
) ON COMMIT DELETE ROWS
"""

# A merge's CTE that bumps the data version (ingest.models.DataVersion) of each ticker whose rows `upserted`
# returned (new or changed ones only), in the merge's own statement: no round trip, no window in between.
BUMP_UPSERTED_TICKERS = """bumped AS (
    INSERT INTO ingest_dataversion (ticker_id, version)
    SELECT DISTINCT ticker_id, 1 FROM upserted ORDER BY ticker_id
    ON CONFLICT (ticker_id) DO UPDATE SET version = ingest_dataversion.version + 1
)"""
_MERGE_SQL = """
WITH upserted AS (
    INSERT INTO ingest_bar (ticker_id, timeframe, ts, open, high, low, close, volume, source)
    SELECT ticker_id, %(timeframe)s, ts, open, high, low, close, volume, %(source)s FROM {rows}
    ON CONFLICT (ticker_id, timeframe, ts) DO UPDATE
        SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
            volume = EXCLUDED.volume, source = EXCLUDED.source
        WHERE (ingest_bar.open, ingest_bar.high, ingest_bar.low, ingest_bar.close, ingest_bar.volume)
            IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)
    RETURNING ticker_id, (xmax = 0) AS inserted
), {bump}
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""

_MERGE_FROM_STAGE = _MERGE_SQL.format(rows="bar_stage", bump=BUMP_UPSERTED_TICKERS)
# A few hundred rows (a login's incremental fetch, its derived weeks and months) go as arrays in the one
# statement: one round trip instead of the four of stage DDL, COPY, merge and truncate.
_MERGE_FROM_ARRAYS = _MERGE_SQL.format(
    bump=BUMP_UPSERTED_TICKERS,
    rows="unnest(%(ticker_id)s::bigint[], %(ts)s::timestamptz[], %(open)s::float8[], %(high)s::float8[], "
    "%(low)s::float8[], %(close)s::float8[], %(volume)s::bigint[]) AS s(ticker_id, ts, open, high, low, close, volume)",
)
SMALL_BATCH_ROWS = 2000

# A bar frame's columns as binary COPY sees them (stockhub.pgcopy): ~50 ms for 600k rows where CSV text
# took ~4 s; floats bit-exact. Bars are read back the same way (analysis.selectors).
BAR_COPY_COLUMNS = [
    ("ticker_id", "bigint"),
    ("ts", "timestamptz"),
    ("open", "float8"),
    ("high", "float8"),
    ("low", "float8"),
    ("close", "float8"),
    ("volume", "bigint"),
]


def _upsert_postgres(bars: pd.DataFrame, timeframe: str, source: str) -> UpsertCounts:
    params = {"timeframe": timeframe, "source": source}
    if len(bars) <= SMALL_BATCH_ROWS:
        # Python floats print exactly (shortest repr), so the values arrive bit-exact as with binary COPY.
        arrays = {
            name: bars[name].to_numpy(dtype="int64" if kind == "bigint" else "float64").tolist()
            for name, kind in BAR_COPY_COLUMNS
            if kind != "timestamptz"
        }
        arrays["ts"] = list(bars["ts"].dt.to_pydatetime())
        with connection.cursor() as cursor:
            cursor.execute(_MERGE_FROM_ARRAYS, {**params, **arrays})
            new, updated = cursor.fetchone()
    else:
        payload = pgcopy.encode(bars, BAR_COPY_COLUMNS)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_STAGE_DDL)
            pgcopy.write("bar_stage", payload)
            cursor.execute(_MERGE_FROM_STAGE, params)
            new, updated = cursor.fetchone()
            cursor.execute("TRUNCATE bar_stage")
    return UpsertCounts(new=new, updated=updated, unchanged=len(bars) - new - updated)


# Rows per COPY + merge transaction: ~50k rows is ~0.5 s of work on PostgreSQL and ~10 MB of memory. A ticker
# is never split across two batches, so each ticker's bars commit atomically.
IMPORT_BATCH_ROWS = 50_000


def upsert_bars_in_batches(*, bars: pd.DataFrame, timeframe: str, source: str) -> UpsertCounts:
    """Upsert many tickers' bars in ticker-aligned batches, each its own transaction, on
    STOCKHUB_IMPORT_WORKERS connections at once (the database does the work, so threads suffice)."""
    batches = list(_batches_by_ticker(bars))

    def store(batch: pd.DataFrame) -> UpsertCounts:
        try:
            return upsert_bars(bars=batch, timeframe=timeframe, source=source)
        except DatabaseError as error:
            raise StorageError(f"storing {len(batch)} {timeframe} bars failed: {error}") from error
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # each pool thread opened its own connection

    workers = min(settings.STOCKHUB_IMPORT_WORKERS, len(batches))
    if workers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return sum((store(batch) for batch in batches), UpsertCounts())
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bar-import") as pool:
        return sum(pool.map(store, batches), UpsertCounts())


def _batches_by_ticker(bars: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """Slices of about IMPORT_BATCH_ROWS rows that never split one ticker (bars are sorted by ticker)."""
    if bars.empty:
        return
    ends = bars.groupby("ticker_id", sort=False).size().cumsum().to_numpy()
    start = 0
    for end in ends:
        if end - start >= IMPORT_BATCH_ROWS:
            yield bars.iloc[start:end]
            start = end
    if start < len(bars):
        yield bars.iloc[start:]


def _upsert_generic(bars: pd.DataFrame, timeframe: str, source: str) -> UpsertCounts:
    """Compare against what is stored, then write only new and changed rows (exact counts on any database)."""
    new = updated = 0
    to_write: list[Bar] = []
    for ticker_id, rows in bars.groupby("ticker_id", sort=False):
        stored = {
            pd.Timestamp(ts): values
            for ts, *values in Bar.objects.filter(
                ticker_id=ticker_id, timeframe=timeframe, ts__gte=rows["ts"].min(), ts__lte=rows["ts"].max()
            ).values_list("ts", *VALUE_COLUMNS)
        }
        for row in rows.itertuples(index=False):
            values = [row.open, row.high, row.low, row.close, int(row.volume)]
            previous = stored.get(pd.Timestamp(row.ts))
            if previous == values:
                continue
            new, updated = (new + 1, updated) if previous is None else (new, updated + 1)
            to_write.append(
                Bar(
                    ticker_id=int(ticker_id),
                    timeframe=timeframe,
                    ts=row.ts.to_pydatetime(),
                    source=source,
                    **dict(zip(VALUE_COLUMNS, values, strict=True)),
                )
            )
    with transaction.atomic():
        Bar.objects.bulk_create(
            to_write,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["ticker", "timeframe", "ts"],
            update_fields=[*VALUE_COLUMNS, "source"],
        )
        bump_data_versions(ticker_ids=[bar.ticker_id for bar in to_write])
    return UpsertCounts(new=new, updated=updated, unchanged=len(bars) - new - updated)


_BUMP_SQL = """
INSERT INTO ingest_dataversion (ticker_id, version) VALUES {rows}
ON CONFLICT (ticker_id) DO UPDATE SET version = ingest_dataversion.version + 1
"""


def bump_data_versions(*, ticker_ids: list[int]) -> None:
    """Count one more change of these tickers' bars or indicators (ingest.models.DataVersion), in the caller's
    transaction, so answers cached under the old version are not served again once it commits."""
    ids = sorted({int(ticker_id) for ticker_id in ticker_ids})  # one lock order for every writer
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(_BUMP_SQL.format(rows=", ".join(["(%s, 1)"] * len(ids))), ids)
