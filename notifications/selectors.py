"""Reads about webhooks: which hooks want an event, a user's hooks, deliveries that are due."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from notifications.models import DeliveryStatus, Webhook, WebhookDelivery
from portfolios.models import Holding


def subscribed_hooks(*, event: str, owners: list[int] | None = None, staff: bool = False) -> dict[int, int]:
    """{hook id: owner id} of the active hooks subscribed to `event`, of `owners` (None: anyone's), of staff
    users only when `staff`. One query on the (active, owner) index; the event is matched in Python because
    SQLite cannot search inside a JSON list, and a few hooks per user are all there is to look at."""
    hooks = Webhook.objects.filter(active=True)
    if owners is not None:
        hooks = hooks.filter(owner_id__in=owners)
    if staff:
        hooks = hooks.filter(owner__is_staff=True, owner__is_active=True)
    rows = hooks.values_list("id", "owner_id", "events")
    return {hook_id: owner_id for hook_id, owner_id, events in rows if event in events}


def holders_of(*, ticker_ids: list[int], owner_ids: list[int] | None = None) -> dict[int, set[int]]:
    """{user id: ids of `ticker_ids` they hold in any portfolio}, optionally only for `owner_ids`."""
    holdings = Holding.objects.filter(ticker_id__in=ticker_ids)
    if owner_ids is not None:
        holdings = holdings.filter(portfolio__owner_id__in=owner_ids)
    held: dict[int, set[int]] = {}
    for owner_id, ticker_id in holdings.values_list("portfolio__owner_id", "ticker_id").distinct():
        held.setdefault(owner_id, set()).add(ticker_id)
    return held


def webhooks_of(*, user) -> QuerySet[Webhook]:
    """`user`'s own hooks, oldest first (staff see only theirs here too; admin shows everyone's)."""
    return Webhook.objects.filter(owner=user).order_by("id")


def webhook_count(*, user) -> int:
    return Webhook.objects.filter(owner=user).count()


def is_staff(*, user_id: int) -> bool:
    return get_user_model().objects.filter(id=user_id, is_staff=True).exists()


def due_delivery_ids(*, before: datetime, limit: int) -> list[int]:
    """Pending deliveries due before `before`, oldest due first."""
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=before)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
