"""Delivering one webhook: claim it once, POST the signed body, record the attempt, then retry or end it.

Retries follow STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS (about 24 hours in all) after a 5xx, a 429 or no
answer; any other status (a 4xx, a redirect) ends the delivery at once, since sending the same request
again would get the same answer. A hook whose deliveries fail STOCKHUB_WEBHOOK_DISABLE_AFTER_FAILURES times
in a row is disabled, with the reason on the row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from notifications.models import AttemptOutcome, DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from notifications.services.notify import publish_deliveries
from notifications.services.sending import Response, post_signed

logger = logging.getLogger(__name__)

# A retry due within this is sent at once as a countdown message; a later one is left to the sweeper. The
# worker holds a countdown message unacknowledged until it is due, and Redis hands an unacknowledged message
# to another worker after STOCKHUB_VISIBILITY_TIMEOUT_SECONDS (1 h), so hours-long countdowns would run twice.
COUNTDOWN_MAX_SECONDS = 600
# An attempt claims its delivery for two timeouts (connect + read) plus this margin for DNS and the
# database; a worker that dies mid-attempt leaves the delivery due again when the claim runs out.
CLAIM_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    event: str
    body: str
    attempt: int


@dataclass(frozen=True)
class DeliveryResult:
    delivery_id: int
    attempted: bool  # False: already delivered or ended, not due yet, or being attempted elsewhere
    status: str
    response_code: int | None = None
    next_attempt_at: datetime | None = None
    webhook_disabled: bool = False


def deliver_webhook(*, delivery_id: int, now: datetime | None = None) -> DeliveryResult:
    """Make the delivery's next attempt if it is pending and due at `now`; otherwise do nothing, so a
    duplicated or redelivered message is harmless. The HTTP request runs outside any transaction."""
    now = now or timezone.now()
    claim = _claim(delivery_id=delivery_id, now=now)
    if not isinstance(claim, Claim):
        return claim
    response = post_signed(
        url=claim.url,
        secret=claim.secret,
        body=claim.body,
        event=claim.event,
        delivery_id=claim.delivery_id,
        attempt=claim.attempt,
    )
    return _record(claim=claim, response=response, now=now)


def retry_schedule_seconds() -> list[int]:
    """Delays before the 2nd, 3rd, ... attempt; its length + 1 is the number of attempts."""
    return list(settings.STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS)


def _claim(*, delivery_id: int, now: datetime) -> Claim | DeliveryResult:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook")
            .filter(id=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            status = delivery.status if delivery else ""
            return DeliveryResult(delivery_id=delivery_id, attempted=False, status=status)
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return DeliveryResult(
                delivery_id, attempted=False, status=delivery.status, next_attempt_at=delivery.next_attempt_at
            )
        hook = delivery.webhook
        if not hook.active:
            _end(delivery, f"webhook disabled: {hook.disabled_reason or 'by its owner or staff'}", now)
            return DeliveryResult(delivery_id, attempted=False, status=delivery.status)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        claim_seconds = 2 * settings.STOCKHUB_WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS
        delivery.next_attempt_at = now + timedelta(seconds=claim_seconds)
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    return Claim(
        delivery_id=delivery.id,
        webhook_id=hook.id,
        url=hook.url,
        secret=hook.secret,
        event=delivery.event,
        body=delivery.body,
        attempt=delivery.attempts,
    )


def _outcome(response: Response, attempt: int) -> str:
    if response.code is not None and 200 <= response.code < 300:
        return AttemptOutcome.DELIVERED
    worth_retrying = response.connection_failed or response.code == 429 or (response.code or 0) >= 500
    if worth_retrying and attempt <= len(retry_schedule_seconds()):
        return AttemptOutcome.RETRY
    return AttemptOutcome.FAILED


def _record(*, claim: Claim, response: Response, now: datetime) -> DeliveryResult:
    outcome = _outcome(response, claim.attempt)
    error = response.error if outcome != AttemptOutcome.DELIVERED else ""
    if response.code is not None and outcome != AttemptOutcome.DELIVERED:
        error = f"HTTP {response.code}" + (f": {error}" if error else "")
    disabled = False
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(id=claim.delivery_id).first()
        if delivery is None:  # the hook was deleted while the request was in flight
            return DeliveryResult(claim.delivery_id, attempted=True, status="", response_code=response.code)
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=claim.attempt,
            started_at=now,
            duration_ms=response.duration_ms,
            response_code=response.code,
            error=error[:300],
            outcome=outcome,
        )
        delivery.last_response_code, delivery.last_error = response.code, error[:300]
        if outcome == AttemptOutcome.RETRY:
            delay = retry_schedule_seconds()[claim.attempt - 1]
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            delivery.save(update_fields=["last_response_code", "last_error", "next_attempt_at"])
            if delay <= COUNTDOWN_MAX_SECONDS:
                transaction.on_commit(
                    partial(publish_deliveries, delivery_ids=[delivery.id], countdown=delay)
                )
            _touch_hook(claim.webhook_id, DeliveryStatus.PENDING, now)
        elif outcome == AttemptOutcome.DELIVERED:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = (
                DeliveryStatus.DELIVERED,
                now,
                None,
            )
            delivery.save()
            _touch_hook(claim.webhook_id, DeliveryStatus.DELIVERED, now, consecutive_failures=0)
        else:
            _end(delivery, error, now)
            disabled = _count_failure(claim.webhook_id, error, now)
    log = logger.info if outcome == AttemptOutcome.DELIVERED else logger.warning
    log(
        "delivery=%s webhook=%s event=%s attempt=%s code=%s outcome=%s%s",
        claim.delivery_id,
        claim.webhook_id,
        claim.event,
        claim.attempt,
        response.code,
        outcome,
        f" error={error!r}" if error else "",
    )
    return DeliveryResult(
        delivery_id=delivery.id,
        attempted=True,
        status=delivery.status,
        response_code=response.code,
        next_attempt_at=delivery.next_attempt_at,
        webhook_disabled=disabled,
    )


def _end(delivery: WebhookDelivery, error: str, now: datetime) -> None:
    delivery.status, delivery.finished_at, delivery.next_attempt_at = DeliveryStatus.FAILED, now, None
    delivery.last_error = error[:300]
    delivery.save()


def _touch_hook(webhook_id: int, status: str, now: datetime, **changes) -> None:
    Webhook.objects.filter(id=webhook_id).update(last_delivery_status=status, last_delivery_at=now, **changes)


def _count_failure(webhook_id: int, error: str, now: datetime) -> bool:
    """One more failed delivery in a row; disables the hook at the limit. True when this disabled it."""
    _touch_hook(webhook_id, DeliveryStatus.FAILED, now, consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.STOCKHUB_WEBHOOK_DISABLE_AFTER_FAILURES
    reason = f"disabled after {limit} failed deliveries in a row (last: {error})"[:300]
    disabled = Webhook.objects.filter(id=webhook_id, active=True, consecutive_failures__gte=limit).update(
        active=False, disabled_reason=reason
    )
    if disabled:
        WebhookDelivery.objects.filter(webhook_id=webhook_id, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, finished_at=now, next_attempt_at=None, last_error="webhook disabled"
        )
        logger.warning("webhook=%s %s", webhook_id, reason)
    return bool(disabled)
