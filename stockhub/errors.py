"""The one error family of StockHub: a code decides what happens (retry, fail the job, 4xx in the API)."""

from __future__ import annotations

from django.db import models


class ErrorCode(models.TextChoices):
    API_RATE_LIMIT = "API_RATE_LIMIT", "provider rate limit"
    API_KEY_INVALID = "API_KEY_INVALID", "provider API key missing or refused"
    SYMBOL_NOT_FOUND = "SYMBOL_NOT_FOUND", "symbol unknown to the provider"
    NETWORK_TIMEOUT = "NETWORK_TIMEOUT", "provider did not answer in time"
    PROVIDER_ERROR = "PROVIDER_ERROR", "provider answered with an error"
    STORAGE_FAILED = "STORAGE_FAILED", "bars could not be stored"
    VALIDATION_FAILED = "VALIDATION_FAILED", "input failed validation"
    WORKER_LOST = "WORKER_LOST", "the worker running it died too often"
    INTERNAL_ERROR = "INTERNAL_ERROR", "a bug: see the worker log"


class StockHubError(Exception):
    """An error we understand: `code` says what kind, `retryable` whether trying again may help."""

    # False for a wait we impose on ourselves (ingest.errors.RateLimitWait): the job is queued again after
    # retry_after and the attempt is given back, however many times that takes.
    counts_as_attempt = True

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
