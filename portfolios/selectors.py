"""Reads about portfolios: what a user holds, and how it stands (prices, freshness) for the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from ingest.models import Ticker
from portfolios.models import Holding, Portfolio


def held_tickers(*, user) -> QuerySet[Ticker]:
    """The active tickers in any of `user`'s portfolios."""
    return Ticker.objects.filter(holdings__portfolio__owner=user, active=True).distinct().order_by("symbol")


@dataclass(frozen=True)
class HoldingRow:
    symbol: str
    quantity: Decimal
    last_close: float | None  # newest daily close; None before any bar
    last_bar_at: datetime | None
    change: float | None  # against the close before
    change_percent: float | None
    freshness: str  # ingest.selectors.Freshness


@dataclass(frozen=True)
class PortfolioOverview:
    id: int
    name: str
    holdings: list[HoldingRow]


def portfolio_overview(*, user, now: datetime) -> list[PortfolioOverview]:
    """Each of `user`'s portfolios with its holdings' last price, day change and data freshness.

    Freshness is read in the first of STOCKHUB_LOGIN_TIMEFRAMES (daily by default): the timeframe a login
    refreshes.
    """
    from ingest.selectors import last_prices, ticker_freshness

    holdings = list(
        Holding.objects.filter(portfolio__owner=user)
        .select_related("ticker", "portfolio")
        .order_by("portfolio__name", "ticker__symbol")
    )
    ticker_ids = sorted({holding.ticker_id for holding in holdings})
    prices = last_prices(ticker_ids=ticker_ids)
    freshness = ticker_freshness(
        ticker_ids=ticker_ids, timeframe=settings.STOCKHUB_LOGIN_TIMEFRAMES[0], now=now
    )
    rows: dict[int, list[HoldingRow]] = {}
    for holding in holdings:
        price = prices.get(holding.ticker_id)
        rows.setdefault(holding.portfolio_id, []).append(
            HoldingRow(
                symbol=holding.ticker.symbol,
                quantity=holding.quantity,
                last_close=price.close if price else None,
                last_bar_at=price.ts if price else None,
                change=price.change if price else None,
                change_percent=price.change_percent if price else None,
                freshness=str(freshness[holding.ticker_id]),
            )
        )
    return [
        PortfolioOverview(id=portfolio.id, name=portfolio.name, holdings=rows.get(portfolio.id, []))
        for portfolio in Portfolio.objects.filter(owner=user).order_by("name")
    ]
