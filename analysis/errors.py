"""Errors raised while analysing bars."""

from __future__ import annotations

from stockhub.errors import ErrorCode, StockHubError


class AnalysisError(StockHubError):
    """Analysis could not run or store its results; `code` is one of stockhub.errors.ErrorCode."""


def storage_failed(message: str) -> AnalysisError:
    """A database error while storing results: worth retrying (a lock timeout, a restart)."""
    return AnalysisError(message, code=ErrorCode.STORAGE_FAILED, retryable=True)


def invalid_input(message: str) -> AnalysisError:
    return AnalysisError(message, code=ErrorCode.VALIDATION_FAILED)
