"""Idempotent writes of indicator rows and pattern events, in the caller's transaction.

On PostgreSQL rows go through binary COPY into a temporary table and one INSERT ... ON CONFLICT DO UPDATE
that touches only rows whose values changed (as ingest/services/storage.py does for bars); on SQLite,
through a compare with what is stored and bulk_create(update_conflicts=True). Either way the counts say
exactly what changed, and writing the same values twice changes nothing.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.db import connection, transaction

from analysis.indicators import OUTPUT_COLUMNS
from analysis.models import AnalysisState, IndicatorRow, PatternEvent
from ingest.services import UpsertCounts
from ingest.services.storage import BUMP_UPSERTED_TICKERS, bump_data_versions
from stockhub import pgcopy

EVENT_FIELDS = ["direction", "strength", "details"]
# A recompute that starts at a different bar reproduces a value to ~1e-14 of itself, not bit for bit
# (docs/indicators.md): a value that moved less than this fraction of itself is not a change, so running
# again after one new bar rewrites the new rows only, not the overlap rows whose last digits moved.
UNCHANGED_RELATIVE = 1e-9


@dataclass(frozen=True)
class EventCounts:
    """stored: new / updated / unchanged events; removed: events a rescan no longer finds; new_recent_ids:
    ids of new events on recent bars (the ones worth telling subscribers about)."""

    stored: UpsertCounts
    removed: int
    new_recent_ids: list[int]


def upsert_indicator_rows(*, rows: pd.DataFrame, timeframe: str) -> UpsertCounts:
    """Write rows (columns ticker_id, ts and every OUTPUT_COLUMNS; NaN = NULL)."""
    if rows.empty:
        return UpsertCounts()
    if connection.vendor == "postgresql":
        return _upsert_rows_postgres(rows, timeframe)
    return _upsert_rows_generic(rows, timeframe)


_ROW_COLUMNS = [("ticker_id", "bigint"), ("ts", "timestamptz"), *((c, "float8") for c in OUTPUT_COLUMNS)]
_ROW_STAGE = "analysis_indicator_stage"


def _merge_rows_sql() -> str:
    columns = ", ".join(OUTPUT_COLUMNS)
    staged = ", ".join(f"NULLIF({c}, 'NaN')" for c in OUTPUT_COLUMNS)
    assign = ", ".join(f"{c} = EXCLUDED.{c}" for c in OUTPUT_COLUMNS)
    changed = " OR ".join(
        f"(analysis_indicatorrow.{c} IS DISTINCT FROM EXCLUDED.{c} AND (analysis_indicatorrow.{c} IS NULL"
        f" OR EXCLUDED.{c} IS NULL OR abs(analysis_indicatorrow.{c} - EXCLUDED.{c})"
        f" > {UNCHANGED_RELATIVE} * greatest(abs(analysis_indicatorrow.{c}), abs(EXCLUDED.{c}))))"
        for c in OUTPUT_COLUMNS
    )
    return f"""
WITH upserted AS (
    INSERT INTO analysis_indicatorrow (ticker_id, timeframe, ts, {columns})
    SELECT ticker_id, %(timeframe)s, ts, {staged} FROM {_ROW_STAGE}
    ON CONFLICT (ticker_id, timeframe, ts) DO UPDATE SET {assign}
        WHERE {changed}
    RETURNING ticker_id, (xmax = 0) AS inserted
), {BUMP_UPSERTED_TICKERS}
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""


def _upsert_rows_postgres(rows: pd.DataFrame, timeframe: str) -> UpsertCounts:
    payload = pgcopy.encode(rows, _ROW_COLUMNS)
    columns = ", ".join(f"{name} {kind}" for name, kind in _ROW_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_ROW_STAGE} ({columns}) ON COMMIT DELETE ROWS")
        pgcopy.write(_ROW_STAGE, payload)
        cursor.execute(_merge_rows_sql(), {"timeframe": timeframe})
        new, updated = cursor.fetchone()
        cursor.execute(f"TRUNCATE {_ROW_STAGE}")
    return UpsertCounts(new=new, updated=updated, unchanged=len(rows) - new - updated)


def _same(stored: tuple, values: list) -> bool:
    """NULL matches NaN; numbers match within UNCHANGED_RELATIVE."""
    for old, new in zip(stored, values, strict=True):
        if old is None or new != new:
            if not (old is None and new != new):
                return False
        elif abs(old - new) > UNCHANGED_RELATIVE * max(abs(old), abs(new)):
            return False
    return True


def _upsert_rows_generic(rows: pd.DataFrame, timeframe: str) -> UpsertCounts:
    new = updated = 0
    to_write = []
    for ticker_id, group in rows.groupby("ticker_id", sort=False):
        stored = {
            pd.Timestamp(ts): values
            for ts, *values in IndicatorRow.objects.filter(
                ticker_id=ticker_id, timeframe=timeframe, ts__gte=group["ts"].min().to_pydatetime()
            ).values_list("ts", *OUTPUT_COLUMNS)
        }
        for ts, values in zip(group["ts"], group[list(OUTPUT_COLUMNS)].to_numpy().tolist(), strict=True):
            previous = stored.get(ts)
            if previous is not None and _same(tuple(previous), values):
                continue
            new, updated = (new + 1, updated) if previous is None else (new, updated + 1)
            fields = {c: (None if v != v else v) for c, v in zip(OUTPUT_COLUMNS, values, strict=True)}
            to_write.append(
                IndicatorRow(ticker_id=int(ticker_id), timeframe=timeframe, ts=ts.to_pydatetime(), **fields)
            )
    with transaction.atomic():  # the rows and their tickers' data versions together
        IndicatorRow.objects.bulk_create(
            to_write,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["ticker", "timeframe", "ts"],
            update_fields=list(OUTPUT_COLUMNS),
        )
        bump_data_versions(ticker_ids=[row.ticker_id for row in to_write])
    return UpsertCounts(new=new, updated=updated, unchanged=len(rows) - new - updated)


def replace_events(
    *, events: pd.DataFrame, timeframe: str, since: dict[int, datetime | None], recent: dict[int, datetime]
) -> EventCounts:
    """Make the stored events of each ticker in `since` (from that ts on; all when None) equal `events`
    (columns ticker_id, ts, kind, direction, strength, details): new ones are added, changed ones updated,
    ones the scan no longer finds removed. New events at or after `recent[ticker_id]` come back by id."""
    if not since:
        return EventCounts(UpsertCounts(), 0, [])
    if connection.vendor == "postgresql":
        return _replace_events_postgres(events, timeframe, since, recent)
    return _replace_events_generic(events, timeframe, since, recent)


_EVENT_STAGE = "analysis_event_stage"
_EVENT_STAGE_DDL = f"""
CREATE TEMP TABLE IF NOT EXISTS {_EVENT_STAGE} (
    ticker_id bigint, ts timestamptz, kind text, direction text, strength float8, details jsonb
) ON COMMIT DELETE ROWS
"""
_REMOVE_STALE_EVENTS = f"""
DELETE FROM analysis_patternevent e
USING unnest(%(ticker_ids)s::bigint[], %(since)s::timestamptz[]) AS w(ticker_id, since)
WHERE e.ticker_id = w.ticker_id AND e.timeframe = %(timeframe)s AND (w.since IS NULL OR e.ts >= w.since)
  AND NOT EXISTS (
      SELECT 1 FROM {_EVENT_STAGE} s WHERE s.ticker_id = e.ticker_id AND s.ts = e.ts AND s.kind = e.kind
  )
"""
_MERGE_EVENTS = f"""
WITH upserted AS (
    INSERT INTO analysis_patternevent (ticker_id, timeframe, ts, kind, direction, strength, details)
    SELECT ticker_id, %(timeframe)s, ts, kind, direction, NULLIF(strength, 'NaN'), details FROM {_EVENT_STAGE}
    ON CONFLICT (ticker_id, timeframe, ts, kind) DO UPDATE
        SET direction = EXCLUDED.direction, strength = EXCLUDED.strength, details = EXCLUDED.details
        WHERE (analysis_patternevent.direction, analysis_patternevent.strength, analysis_patternevent.details)
            IS DISTINCT FROM (EXCLUDED.direction, EXCLUDED.strength, EXCLUDED.details)
    RETURNING id, ticker_id, ts, (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE u.inserted), count(*) FILTER (WHERE NOT u.inserted),
       coalesce(array_agg(u.id) FILTER (WHERE u.inserted AND u.ts >= r.since), '{{}}')
FROM upserted u
LEFT JOIN unnest(%(ticker_ids)s::bigint[], %(recent)s::timestamptz[]) AS r(ticker_id, since) USING (ticker_id)
"""


def _events_csv(events: pd.DataFrame) -> io.StringIO:
    buffer = io.StringIO()
    pd.DataFrame(
        {
            "ticker_id": events["ticker_id"],
            "ts": events["ts"].dt.strftime("%Y-%m-%d %H:%M:%S+00"),
            "kind": events["kind"],
            "direction": events["direction"],
            "strength": events["strength"],
            "details": [json.dumps(d, allow_nan=False) for d in events["details"]],
        }
    ).to_csv(buffer, index=False, header=False, na_rep="NaN")
    buffer.seek(0)
    return buffer


def _replace_events_postgres(events: pd.DataFrame, timeframe: str, since: dict, recent: dict) -> EventCounts:
    ticker_ids = list(since)
    params = {
        "timeframe": timeframe,
        "ticker_ids": ticker_ids,
        "since": [since[t] for t in ticker_ids],
        "recent": [recent.get(t) for t in ticker_ids],
    }
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_STAGE_DDL)
        if not events.empty:
            pgcopy.write(_EVENT_STAGE, _events_csv(events), binary=False)
        cursor.execute(_REMOVE_STALE_EVENTS, params)
        removed = cursor.rowcount
        cursor.execute(_MERGE_EVENTS, params)
        new, updated, new_ids = cursor.fetchone()
        cursor.execute(f"TRUNCATE {_EVENT_STAGE}")
    return EventCounts(UpsertCounts(new, updated, len(events) - new - updated), removed, sorted(new_ids))


def _replace_events_generic(events: pd.DataFrame, timeframe: str, since: dict, recent: dict) -> EventCounts:
    new: list[PatternEvent] = []
    changed: list[PatternEvent] = []
    removed = 0
    by_ticker = dict(tuple(events.groupby("ticker_id", sort=False))) if not events.empty else {}
    for ticker_id, start in since.items():
        stored = PatternEvent.objects.filter(ticker_id=ticker_id, timeframe=timeframe)
        if start is not None:
            stored = stored.filter(ts__gte=start)
        existing = {(pd.Timestamp(e.ts), e.kind): e for e in stored}
        found = by_ticker.get(ticker_id, events.iloc[:0])
        for ts, kind, direction, strength, details in found[
            ["ts", "kind", "direction", "strength", "details"]
        ].itertuples(index=False):
            strength = None if strength != strength else float(strength)
            event = existing.pop((ts, kind), None)
            if event is None:
                new.append(
                    PatternEvent(
                        ticker_id=int(ticker_id),
                        timeframe=timeframe,
                        ts=ts.to_pydatetime(),
                        kind=kind,
                        direction=direction,
                        strength=strength,
                        details=details,
                    )
                )
            elif (event.direction, event.strength, event.details) != (direction, strength, details):
                event.direction, event.strength, event.details = direction, strength, details
                changed.append(event)
        removed += PatternEvent.objects.filter(id__in=[e.id for e in existing.values()]).delete()[0]
    created = PatternEvent.objects.bulk_create(new, batch_size=500)
    PatternEvent.objects.bulk_update(changed, EVENT_FIELDS, batch_size=500)
    new_ids = [e.id for e in created if e.ts >= recent.get(e.ticker_id, e.ts)]
    counts = UpsertCounts(len(new), len(changed), len(events) - len(new) - len(changed))
    return EventCounts(counts, removed, sorted(new_ids))


def save_states(*, timeframe: str, through: dict[int, datetime], indicators: bool, patterns: bool) -> None:
    """Record that each ticker's indicators and/or patterns are up to date through its newest bar."""
    fields = [
        name for name, done in (("indicators_through", indicators), ("patterns_through", patterns)) if done
    ]
    states = [
        AnalysisState(ticker_id=ticker_id, timeframe=timeframe, **dict.fromkeys(fields, ts))
        for ticker_id, ts in through.items()
    ]
    AnalysisState.objects.bulk_create(
        states,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["ticker", "timeframe"],
        update_fields=[*fields, "updated_at"],
    )
