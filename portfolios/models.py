"""Users' portfolios and the tickers they hold."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ingest.models import Ticker


class Portfolio(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portfolios")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    tickers = models.ManyToManyField(Ticker, through="Holding", related_name="portfolios")

    class Meta:
        ordering = ["owner_id", "name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="portfolio_unique_owner_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner})"


class Holding(models.Model):
    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="holdings")
    ticker = models.ForeignKey(Ticker, on_delete=models.PROTECT, related_name="holdings")
    quantity = models.DecimalField(max_digits=18, decimal_places=6, help_text="Shares held, e.g. 10 or 2.5")
    cost_basis = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Average cost per share in USD (optional)",
    )

    class Meta:
        ordering = ["portfolio_id", "ticker__symbol"]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "ticker"], name="holding_unique_portfolio_ticker"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="holding_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.ticker} x {self.quantity}"
