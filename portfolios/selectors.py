"""Reads about portfolios: what a user holds."""

from __future__ import annotations

from django.db.models import QuerySet

from ingest.models import Ticker


def held_tickers(*, user) -> QuerySet[Ticker]:
    """The active tickers in any of `user`'s portfolios."""
    return Ticker.objects.filter(holdings__portfolio__owner=user, active=True).distinct().order_by("symbol")
