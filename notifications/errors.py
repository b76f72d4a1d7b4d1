"""Errors of webhooks: a hook that cannot be created as asked, or an address a delivery may not call."""

from __future__ import annotations

from django.db import models

from stockhub.errors import StockHubError


class WebhookErrorCode(models.TextChoices):
    INVALID_URL = "INVALID_URL", "not an http(s) URL"
    ADDRESS_NOT_ALLOWED = "ADDRESS_NOT_ALLOWED", "the URL's host is a loopback, private or reserved address"
    HOST_NOT_FOUND = "HOST_NOT_FOUND", "the URL's host name does not resolve"
    INVALID_EVENTS = "INVALID_EVENTS", "unknown or missing event names"
    INVALID_SECRET = "INVALID_SECRET", "secret too short or too long"
    STAFF_ONLY = "STAFF_ONLY", "run-level events are for staff"
    TOO_MANY_WEBHOOKS = "TOO_MANY_WEBHOOKS", "the user has the most webhooks allowed"


class WebhookError(StockHubError):
    """A webhook request we refuse; the message says what to fix."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)
