"""The webhook sweeper's default beat entry, stored in the database and editable in admin."""

from __future__ import annotations

import json

from notifications.services.notify import DELIVERY_PRIORITY, DELIVERY_QUEUE
from stockhub.queues import broker_priority

SWEEP_EVERY_SECONDS = 60


def sync_schedules() -> list[str]:
    """Create the sweeper's periodic task when missing; never overwrites what an operator changed."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_minute, _ = IntervalSchedule.objects.get_or_create(
        every=SWEEP_EVERY_SECONDS, period=IntervalSchedule.SECONDS
    )
    # Every minute: a delivery whose message was lost, or whose retry is hours away, waits at most about a
    # minute past its due time plus the sweeper's grace.
    _, made = PeriodicTask.objects.get_or_create(
        name="dispatch webhooks",
        defaults={
            "task": "analysis.dispatch_webhooks",
            "interval": every_minute,
            "queue": str(DELIVERY_QUEUE),
            "priority": broker_priority(DELIVERY_PRIORITY),
            "expire_seconds": SWEEP_EVERY_SECONDS - 5,  # a late copy is useless once the next one is due
            "kwargs": json.dumps({}),
            "description": "Send webhook deliveries that are due: lost messages, long retries, dead workers.",
        },
    )
    return ["dispatch webhooks"] if made else []
