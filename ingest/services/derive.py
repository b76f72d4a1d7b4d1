"""Weekly and monthly bars derived from stored daily bars (see providers/aggregate.py for the labelling)."""

from __future__ import annotations

import io

import pandas as pd
from django.db import connection

from ingest.models import Bar, Timeframe
from ingest.providers.aggregate import aggregate_bars, as_utc
from ingest.services.storage import BUMP_UPSERTED_TICKERS, UpsertCounts, upsert_bars_in_batches

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
        month = as_utc(since).normalize().replace(day=1)
        first = month - pd.Timedelta(days=month.weekday())
    if connection.vendor == "postgresql" and first is not None:
        return _derive_in_postgres(ticker_ids=ticker_ids, first=first, timeframes=timeframes)
    daily = _daily_bars(ticker_ids=ticker_ids, since=first)
    for timeframe in timeframes:
        derived = aggregate_bars(daily, timeframe, by="ticker_id")
        if first is not None:
            derived = derived[derived["ts"] >= first]
        results[str(timeframe)] = upsert_bars_in_batches(
            bars=derived, timeframe=timeframe, source=DERIVED_SOURCE
        )
    return results


# An incremental derivation (a few weeks of daily bars per ticker) as one statement: the database groups the
# daily bars into weeks (Monday 00:00 UTC) and months (the 1st, 00:00 UTC), as aggregate_bars labels them, and
# merges them like upsert_bars. open/close are the first/last bar's own values and high/low/volume exact
# aggregates, so the bars are identical to the pandas path's. A login's fetch job spends ~1 ms here instead of
# reading the bars back into pandas and writing two frames.
_DERIVE_SQL = """
WITH periods (timeframe, unit) AS (
    SELECT * FROM unnest(%(timeframes)s::text[], %(units)s::text[])
), aggregated AS (
    SELECT d.ticker_id, p.timeframe,
           date_trunc(p.unit, d.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS ts,
           (array_agg(d.open ORDER BY d.ts))[1] AS open, max(d.high) AS high, min(d.low) AS low,
           (array_agg(d.close ORDER BY d.ts DESC))[1] AS close, sum(d.volume)::bigint AS volume
    FROM ingest_bar d CROSS JOIN periods p
    WHERE d.timeframe = 'daily' AND d.ticker_id = ANY(%(ticker_ids)s) AND d.ts >= %(first)s
    GROUP BY 1, 2, 3
    HAVING date_trunc(p.unit, d.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' >= %(first)s
), upserted AS (
    INSERT INTO ingest_bar (ticker_id, timeframe, ts, open, high, low, close, volume, source)
    SELECT ticker_id, timeframe, ts, open, high, low, close, volume, %(source)s FROM aggregated
    ORDER BY ticker_id, timeframe, ts
    ON CONFLICT (ticker_id, timeframe, ts) DO UPDATE
        SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
            volume = EXCLUDED.volume, source = EXCLUDED.source
        WHERE (ingest_bar.open, ingest_bar.high, ingest_bar.low, ingest_bar.close, ingest_bar.volume)
            IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)
    RETURNING ticker_id, timeframe, (xmax = 0) AS inserted
), {bump}
SELECT p.timeframe,
       (SELECT count(*) FROM aggregated a WHERE a.timeframe = p.timeframe),
       (SELECT count(*) FROM upserted u WHERE u.timeframe = p.timeframe AND u.inserted),
       (SELECT count(*) FROM upserted u WHERE u.timeframe = p.timeframe AND NOT u.inserted)
FROM periods p
""".replace("{bump}", BUMP_UPSERTED_TICKERS)
_TRUNC_UNITS = {Timeframe.WEEKLY: "week", Timeframe.MONTHLY: "month"}


def _derive_in_postgres(
    *, ticker_ids: list[int], first: pd.Timestamp, timeframes: tuple[str, ...]
) -> dict[str, UpsertCounts]:
    with connection.cursor() as cursor:
        cursor.execute(
            _DERIVE_SQL,
            {
                "timeframes": [str(t) for t in timeframes],
                "units": [_TRUNC_UNITS[t] for t in timeframes],
                "ticker_ids": list(ticker_ids),
                "first": first.to_pydatetime(),
                "source": DERIVED_SOURCE,
            },
        )
        rows = cursor.fetchall()
    return {
        timeframe: UpsertCounts(new=new, updated=updated, unchanged=total - new - updated)
        for timeframe, total, new, updated in rows
    }


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
