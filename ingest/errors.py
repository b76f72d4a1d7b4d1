"""Errors raised while fetching and storing market data."""

from __future__ import annotations

from stockhub.errors import ErrorCode, StockHubError


class ProviderError(StockHubError):
    """A provider could not deliver bars; `code` is one of stockhub.errors.ErrorCode."""


class StorageError(StockHubError):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, code=ErrorCode.STORAGE_FAILED, retryable=retryable)


class InvalidInput(StockHubError):
    """Bad input from a person or a file: the message says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorCode.VALIDATION_FAILED)
