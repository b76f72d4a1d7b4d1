"""Weekly and monthly bars derived from stored daily bars (see providers/aggregate.py for the labelling)."""

from __future__ import annotations

import io

import pandas as pd
from django.db import connection

from ingest.models import Bar, Timeframe
from ingest.providers.aggregate import aggregate_bars, period_start
from ingest.services.storage import UpsertCounts, upsert_bars_in_batches

DERIVED_TIMEFRAMES = (Timeframe.WEEKLY, Timeframe.MONTHLY)
DERIVED_SOURCE = "derived"


def derive_longer_bars(
    *,
    ticker_ids: list[int],
    since: pd.Timestamp | None = None,
    timeframes: tuple[str, ...] = DERIVED_TIMEFRAMES,
) -> dict[str, UpsertCounts]:
    """Recompute weekly and monthly bars from daily bars from the period containing `since` on.

    Idempotent: running it again over unchanged daily bars counts every derived bar `unchanged`.
    """
    results: dict[str, UpsertCounts] = {}
    if not ticker_ids:
        return results
    # One read serves both timeframes: from the Monday of the week holding the 1st of since's month, so the
    # affected month and every week touching it are read whole. Periods starting before that read are
    # incomplete in it and are left as stored.
    first = None
    if since is not None:
        month = period_start(pd.Series([pd.Timestamp(since)]).dt.tz_convert("UTC"), "monthly")
        first = period_start(month, "weekly")[0]
    daily = _daily_bars(ticker_ids=ticker_ids, since=first)
    for timeframe in timeframes:
        derived = aggregate_bars(daily, timeframe, by="ticker_id")
        if first is not None:
            derived = derived[derived["ts"] >= first]
        results[str(timeframe)] = upsert_bars_in_batches(
            bars=derived, timeframe=timeframe, source=DERIVED_SOURCE
        )
    return results


def _daily_bars(*, ticker_ids: list[int], since: pd.Timestamp | None) -> pd.DataFrame:
    columns = ["ticker_id", "ts", "open", "high", "low", "close", "volume"]
    if connection.vendor == "postgresql":
        return _read_daily_with_copy(ticker_ids, since, columns)
    rows = Bar.objects.filter(ticker_id__in=ticker_ids, timeframe=Timeframe.DAILY)
    if since is not None:
        rows = rows.filter(ts__gte=since.to_pydatetime())
    frame = pd.DataFrame(list(rows.values_list(*columns)), columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _read_daily_with_copy(
    ticker_ids: list[int], since: pd.Timestamp | None, columns: list[str]
) -> pd.DataFrame:
    """COPY ... TO STDOUT: ~10x faster than 600k Python tuples; epoch seconds parse faster than ISO text."""
    sql = (
        "SELECT ticker_id, extract(epoch FROM ts)::bigint, open, high, low, close, volume FROM ingest_bar"
        " WHERE timeframe = %s AND ticker_id = ANY(%s) AND ts >= %s"
    )
    params = [Timeframe.DAILY.value, list(ticker_ids), (since or pd.Timestamp(0, tz="UTC")).to_pydatetime()]
    buffer = io.StringIO()
    with connection.cursor() as cursor:
        query = cursor.mogrify(sql, params).decode()
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buffer)
    buffer.seek(0)
    frame = pd.read_csv(buffer, names=columns, header=None)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    return frame
