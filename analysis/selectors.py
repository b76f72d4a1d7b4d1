"""Reads of analysis data: bars to analyse, how far each series is analysed, stored indicators and events.

No writes here.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from django.db import connection
from django.db.models import Q

from analysis.models import AnalysisState, IndicatorRow, PatternEvent
from ingest.models import Bar, Ticker, Universe, UniverseKind
from ingest.services.storage import BAR_COPY_COLUMNS
from stockhub import pgcopy


def analysed_through(
    *, ticker_ids: list[int], timeframe: str
) -> dict[int, tuple[datetime | None, datetime | None]]:
    """ticker id -> (indicators_through, patterns_through) for tickers analysed before."""
    rows = AnalysisState.objects.filter(ticker_id__in=ticker_ids, timeframe=timeframe).values_list(
        "ticker_id", "indicators_through", "patterns_through"
    )
    return {ticker_id: (indicators, patterns) for ticker_id, indicators, patterns in rows}


def bar_before(*, ticker_id: int, timeframe: str, ts: datetime, bars_back: int) -> datetime | None:
    """The ts of the bar `bars_back` bars before `ts` (1 = the bar just before), None if there are fewer."""
    older = Bar.objects.filter(ticker_id=ticker_id, timeframe=timeframe, ts__lt=ts).order_by("-ts")
    found = older.values_list("ts", flat=True)[bars_back - 1 : bars_back]
    return found[0] if found else None


def bars_frame(*, starts: dict[int, datetime | None], timeframe: str) -> pd.DataFrame:
    """Bars of each ticker in `starts` from its start ts on (all when None), as columns ticker_id, ts, open,
    high, low, close, volume; sorted by ticker id, then ts."""
    names = [name for name, _ in BAR_COPY_COLUMNS]
    if not starts:
        return pd.DataFrame({name: [] for name in names})
    if connection.vendor == "postgresql":
        ticker_ids = list(starts)
        query = """
            SELECT b.ticker_id, b.ts, b.open, b.high, b.low, b.close, b.volume
            FROM ingest_bar b
            JOIN unnest(%s::bigint[], %s::timestamptz[]) AS w(ticker_id, since) ON b.ticker_id = w.ticker_id
            WHERE b.timeframe = %s AND (w.since IS NULL OR b.ts >= w.since)
            ORDER BY b.ticker_id, b.ts
        """
        return pgcopy.read(query, [ticker_ids, [starts[t] for t in ticker_ids], timeframe], BAR_COPY_COLUMNS)
    condition = Q()
    for ticker_id, start in starts.items():
        condition |= Q(ticker_id=ticker_id) & (Q(ts__gte=start) if start is not None else Q())
    rows = Bar.objects.filter(condition, timeframe=timeframe).order_by("ticker_id", "ts").values_list(*names)
    frame = pd.DataFrame(list(rows), columns=names)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def stored_values(*, at: dict[int, datetime], timeframe: str, column: str) -> dict[int, float | None]:
    """ticker id -> its stored indicator `column` at ts `at[ticker id]` (absent when no row is stored)."""
    if not at:
        return {}
    rows = IndicatorRow.objects.filter(ticker_id__in=list(at), timeframe=timeframe, ts__in=set(at.values()))
    return {
        ticker_id: value
        for ticker_id, ts, value in rows.values_list("ticker_id", "ts", column)
        if at.get(ticker_id) == ts
    }


def indicator_rows(
    *,
    ticker: Ticker,
    timeframe: str,
    columns: list[str],
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[dict]:
    """Up to `limit` indicator rows of `ticker` (ts and `columns`), oldest first, start <= ts <= end.

    Without a start, the newest `limit` rows up to `end` (what a chart wants by default).
    """
    rows = IndicatorRow.objects.filter(ticker=ticker, timeframe=timeframe)
    if end is not None:
        rows = rows.filter(ts__lte=end)
    if start is not None:
        return list(rows.filter(ts__gte=start).order_by("ts").values("ts", *columns)[:limit])
    return list(reversed(rows.order_by("-ts").values("ts", *columns)[:limit]))


def pattern_events(
    *,
    ticker_ids: list[int] | None,
    timeframe: str | None,
    kinds: list[str] | None,
    since: datetime | None,
    limit: int,
) -> list[dict]:
    """Up to `limit` events, newest first, of the given tickers (all when None), timeframe, kinds, since."""
    events = PatternEvent.objects.all()
    if ticker_ids is not None:
        events = events.filter(ticker_id__in=ticker_ids)
    if timeframe:
        events = events.filter(timeframe=timeframe)
    if kinds:
        events = events.filter(kind__in=kinds)
    if since is not None:
        events = events.filter(ts__gte=since)
    fields = ("id", "ticker__symbol", "timeframe", "ts", "kind", "direction", "strength", "details")
    return [
        {("symbol" if key == "ticker__symbol" else key): value for key, value in row.items()}
        for row in events.order_by("-ts", "ticker_id", "kind").values(*fields)[:limit]
    ]


def visible_universes(*, user) -> list[Universe]:
    """The universes a user may screen: the shipped index lists and the user's own lists."""
    return list(Universe.objects.filter(Q(kind=UniverseKind.INDEX) | Q(owner=user)).order_by("slug"))


def universe_ticker_ids(*, universe: Universe) -> list[int]:
    return list(universe.members.values_list("id", flat=True))


def events_by_id(*, ids: list[int]) -> list[dict]:
    """Stored events with their symbol, for announcing them."""
    fields = (
        "id",
        "ticker_id",
        "ticker__symbol",
        "timeframe",
        "ts",
        "kind",
        "direction",
        "strength",
        "details",
    )
    rows = PatternEvent.objects.filter(id__in=ids).order_by("ts", "id").values(*fields)
    return [{("symbol" if k == "ticker__symbol" else k): v for k, v in row.items()} for row in rows]
