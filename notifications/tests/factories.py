"""Builders for webhooks in tests."""

from __future__ import annotations

from notifications.models import Webhook
from portfolios.tests.factories import make_user

SECRET = "test-secret-0123456789abcdef"


def make_hook(
    *, url: str, events: list[str], owner=None, staff: bool = True, secret: str = SECRET
) -> Webhook:
    """A hook stored directly (the API's checks have their own tests); staff-owned unless told otherwise."""
    owner = owner or make_user(f"hook-owner-{Webhook.objects.count()}", staff=staff)
    return Webhook.objects.create(owner=owner, url=url, events=events, secret=secret)
