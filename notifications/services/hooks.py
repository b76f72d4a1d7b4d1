"""Creating, checking, re-enabling and deleting a user's webhooks."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from notifications import selectors
from notifications.addresses import resolve_target
from notifications.errors import WebhookError, WebhookErrorCode
from notifications.models import STAFF_EVENTS, Event, Webhook

logger = logging.getLogger(__name__)

# Enough for every event to its own endpoint, several times over; more is a script gone wrong.
MAX_WEBHOOKS_PER_USER = 20
SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 128


@dataclass(frozen=True)
class CreatedWebhook:
    webhook_id: int
    secret: str  # shown once, in the response that created the hook


def check_webhook(*, owner, url: str, events: list[str], secret: str | None = None) -> list[str]:
    """The events, deduplicated in a stable order, when `owner` may have this hook; WebhookError saying
    what to fix otherwise (a non-http(s) URL, a private address, unknown or staff-only events, a bad secret)."""
    if not events:
        raise WebhookError(
            f"subscribe to at least one event: {', '.join(Event.values)}",
            code=WebhookErrorCode.INVALID_EVENTS,
        )
    unknown = [e for e in events if e not in Event.values]
    if unknown:
        raise WebhookError(
            f"unknown event {unknown[0]!r}; known: {', '.join(Event.values)}",
            code=WebhookErrorCode.INVALID_EVENTS,
        )
    staff_only = sorted(set(events) & STAFF_EVENTS)
    if staff_only and not owner.is_staff:
        raise WebhookError(
            f"only staff may subscribe to run-level events ({', '.join(staff_only)})",
            code=WebhookErrorCode.STAFF_ONLY,
        )
    if secret is not None and not SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH:
        raise WebhookError(
            f"the secret must be {SECRET_MIN_LENGTH}-{SECRET_MAX_LENGTH} characters long",
            code=WebhookErrorCode.INVALID_SECRET,
        )
    resolve_target(url)
    return list(dict.fromkeys(events))


def create_webhook(*, owner, url: str, events: list[str], secret: str | None = None) -> CreatedWebhook:
    """A new active hook of `owner`; without a secret, a random one (64 hex characters) is made."""
    events = check_webhook(owner=owner, url=url, events=events, secret=secret)
    if selectors.webhook_count(user=owner) >= MAX_WEBHOOKS_PER_USER:
        raise WebhookError(
            f"a user may have at most {MAX_WEBHOOKS_PER_USER} webhooks; delete one first",
            code=WebhookErrorCode.TOO_MANY_WEBHOOKS,
        )
    secret = secret or secrets.token_hex(32)
    hook = Webhook.objects.create(owner=owner, url=url.strip(), events=events, secret=secret)
    logger.info("webhook=%s created by user=%s for %s", hook.id, owner.id, ",".join(events))
    return CreatedWebhook(webhook_id=hook.id, secret=secret)


def delete_webhook(*, owner, webhook_id: int) -> bool:
    """Delete `owner`'s hook and its delivery history; False when they have no such hook."""
    deleted, _ = Webhook.objects.filter(owner=owner, id=webhook_id).delete()
    if deleted:
        logger.info("webhook=%s deleted by user=%s", webhook_id, owner.id)
    return bool(deleted)


def enable_webhooks(*, webhook_ids: list[int]) -> int:
    """Turn hooks back on and forget their failures and disabled reason; returns how many changed."""
    return Webhook.objects.filter(id__in=webhook_ids).update(
        active=True, disabled_reason="", consecutive_failures=0
    )
