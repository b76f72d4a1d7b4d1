"""Errors of portfolio changes: the code says what went wrong, `http_status` what the API answers."""

from __future__ import annotations

from django.db import models

from stockhub.errors import StockHubError


class PortfolioErrorCode(models.TextChoices):
    NAME_TAKEN = "NAME_TAKEN", "the owner already has a portfolio of that name"
    NOT_HELD = "NOT_HELD", "the portfolio does not hold that symbol"


class PortfolioError(StockHubError):
    """A portfolio change that cannot be made as asked; the message says why."""

    def __init__(self, message: str, *, code: PortfolioErrorCode) -> None:
        super().__init__(message, code=code)

    @property
    def http_status(self) -> int:
        return {PortfolioErrorCode.NAME_TAKEN: 409, PortfolioErrorCode.NOT_HELD: 404}[self.code]
