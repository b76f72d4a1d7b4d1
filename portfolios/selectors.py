"""Reads about portfolios: what a user owns and holds, and tickers to add."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from ingest.models import Ticker, normalize_symbol
from portfolios.models import Holding, Portfolio


def held_tickers(*, user) -> QuerySet[Ticker]:
    """The active tickers in any of `user`'s portfolios."""
    return Ticker.objects.filter(holdings__portfolio__owner=user, active=True).distinct().order_by("symbol")


def portfolios_of(*, user) -> QuerySet[Portfolio]:
    """`user`'s portfolios by name, each with `holding_count`; never anyone else's."""
    return (
        Portfolio.objects.filter(owner=user).annotate(holding_count=Count("holdings")).order_by("name", "id")
    )


def portfolio_of(*, user, portfolio_id: int) -> Portfolio | None:
    """`user`'s portfolio `portfolio_id` (with `holding_count`), or None when there is none or it is not theirs:
    callers answer both the same way, so an id never tells whether someone else's portfolio exists."""
    return portfolios_of(user=user).filter(id=portfolio_id).first()


def holdings_in(*, portfolio: Portfolio) -> QuerySet[Holding]:
    """The holdings of `portfolio` by symbol, with their tickers."""
    return Holding.objects.filter(portfolio=portfolio).select_related("ticker").order_by("ticker__symbol")


def tickers_matching(*, search: str = "") -> QuerySet[Ticker]:
    """Tickers whose symbol or name starts with `search` (any case), by symbol; every ticker when empty."""
    search = search.strip()
    tickers = Ticker.objects.order_by("symbol")
    if not search:
        return tickers
    return tickers.filter(Q(symbol__startswith=normalize_symbol(search)) | Q(name__istartswith=search))
