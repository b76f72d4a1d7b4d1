"""Errors raised while fetching and storing market data."""

from __future__ import annotations

from stockhub.errors import ErrorCode, StockHubError


class ProviderError(StockHubError):
    """A provider could not deliver bars; `code` is one of stockhub.errors.ErrorCode."""


class RateLimitWait(ProviderError):
    """Our own per-provider limiter (ingest.ratelimit) has no request slot soon enough: the provider was not
    asked, so this costs the job no attempt; it runs again after `retry_after` seconds."""

    counts_as_attempt = False

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, code=ErrorCode.API_RATE_LIMIT, retryable=True, retry_after=retry_after)


class StorageError(StockHubError):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, code=ErrorCode.STORAGE_FAILED, retryable=retryable)


class InvalidInput(StockHubError):
    """Bad input from a person or a file: the message says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorCode.VALIDATION_FAILED)
