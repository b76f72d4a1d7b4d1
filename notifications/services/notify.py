"""Recording events for the hooks that want them, and sending each delivery's message after commit.

The delivery row is written in the caller's transaction and its message goes out only after commit, like a
FetchJob: an event whose work rolled back is never announced, and a message the broker lost is sent again
by the sweeper (`dispatch_due_deliveries`, every minute), so losing the broker loses no delivery.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from notifications import selectors
from notifications.models import Event, WebhookDelivery
from stockhub.events import envelope
from stockhub.queues import PRIORITY_BANDS, Queue, broker_priority

logger = logging.getLogger(__name__)

DELIVER_TASK = "analysis.deliver_webhook"
# Deliveries run on the analysis workers, never in a web request. They take the best priority of the analysis
# band: each is one short HTTP request (at most STOCKHUB_WEBHOOK_TIMEOUT_SECONDS), and an alert that waits
# behind a whole analysis backlog arrives too late to matter.
DELIVERY_QUEUE = Queue.ANALYSIS
DELIVERY_PRIORITY = PRIORITY_BANDS[Queue.ANALYSIS][0]
# A delivery due this long ago whose message has not run is presumed lost and sent again. Longer than the
# few seconds a message takes to be picked up; a duplicate is harmless (the claim lets one copy through).
SWEEP_GRACE_SECONDS = 60
# Deliveries one sweep sends at most: one broker round trip each, ~0.2 s for 500 on a local Redis.
SWEEP_BATCH = 500


@dataclass(frozen=True)
class NotifyResult:
    delivery_ids: list[int]


@dataclass(frozen=True)
class DispatchResult:
    sent: int
    due: int


def notify(*, event: str, payload: dict, owner_ids: list[int] | None = None) -> NotifyResult:
    """Record one delivery of `event` per active hook subscribed to it and send their messages after commit.

    `owner_ids` None: a run-level event, for staff-owned hooks only; a list: the hooks of those users. Runs
    in the caller's transaction, so nothing is sent when it rolls back. With nobody subscribed it costs one
    indexed query and writes nothing.
    """
    if event not in Event.values:
        raise ValueError(f"unknown webhook event {event!r}; known: {', '.join(Event.values)}")
    hooks = selectors.subscribed_hooks(event=event, owners=owner_ids, staff=owner_ids is None)
    if not hooks:
        return NotifyResult(delivery_ids=[])
    body = json.dumps(envelope(event, payload), cls=DjangoJSONEncoder)
    now = timezone.now()
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(webhook_id=hook_id, event=event, body=body, next_attempt_at=now)
            for hook_id in sorted(hooks)
        )
        ids = [delivery.id for delivery in deliveries]
        transaction.on_commit(partial(publish_deliveries, delivery_ids=ids))
    logger.info("event=%s deliveries=%s recorded for hooks %s", event, ids, sorted(hooks))
    return NotifyResult(delivery_ids=ids)


def publish_deliveries(*, delivery_ids: list[int], countdown: float | None = None) -> int:
    """Send one message per delivery id; returns how many the broker took. Never raises for a broker
    problem: an unsent delivery stays pending and the sweeper sends it."""
    from celery_app import app

    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for delivery_id in delivery_ids:
                app.send_task(
                    DELIVER_TASK,
                    args=[delivery_id],
                    queue=str(DELIVERY_QUEUE),
                    priority=broker_priority(DELIVERY_PRIORITY),
                    countdown=countdown,
                    retry=False,
                    producer=producer,
                )
                sent += 1
    except Exception as error:  # kombu/redis/amqp raise many types for "broker down"; all mean: try later
        logger.warning(
            "deliveries %s not published, broker unreachable (%s); the sweeper will send them",
            delivery_ids[sent:],
            error,
        )
    return sent


def dispatch_due_deliveries(*, now: datetime | None = None) -> DispatchResult:
    """Send again the pending deliveries due more than SWEEP_GRACE_SECONDS ago: messages the broker lost,
    retries too far off for a countdown message, attempts of a worker that died. Running it twice is harmless."""
    now = now or timezone.now()
    due = selectors.due_delivery_ids(before=now - timedelta(seconds=SWEEP_GRACE_SECONDS), limit=SWEEP_BATCH)
    sent = publish_deliveries(delivery_ids=due) if due else 0
    if due:
        logger.info("sweeper sent %s of %s overdue webhook deliveries", sent, len(due))
    return DispatchResult(sent=sent, due=len(due))


def notify_patterns_detected(*, patterns: list[dict]) -> NotifyResult:
    """`patterns.detected` to each subscribed user holding a ticker with new patterns: one delivery per hook,
    with the patterns of that user's tickers only. One query when nobody subscribed."""
    if not patterns:
        return NotifyResult(delivery_ids=[])
    subscribed = selectors.subscribed_hooks(event=Event.PATTERNS_DETECTED)
    if not subscribed:
        return NotifyResult(delivery_ids=[])
    held = selectors.holders_of(
        ticker_ids=sorted({p["ticker_id"] for p in patterns}), owner_ids=sorted(set(subscribed.values()))
    )
    ids: list[int] = []
    for owner_id, ticker_ids in sorted(held.items()):
        mine = [p for p in patterns if p["ticker_id"] in ticker_ids]
        payload = {"count": len(mine), "patterns": mine}
        ids += notify(event=Event.PATTERNS_DETECTED, payload=payload, owner_ids=[owner_id]).delivery_ids
    return NotifyResult(delivery_ids=ids)


def notify_queue_alert(
    *, name: str, firing: bool, value: float, threshold: float, message: str, changed_at: datetime
) -> NotifyResult:
    """`queue.alert` to staff hooks: once when an alert starts firing, once when it recovers."""
    payload = {
        "alert": name,
        "state": "firing" if firing else "recovered",
        "value": round(value, 3),
        "threshold": threshold,
        "message": message,
        "changed_at": changed_at,
    }
    return notify(event=Event.QUEUE_ALERT, payload=payload, owner_ids=None)
