"""Default beat schedules, stored in the database (django-celery-beat) and editable in admin.

`sync_schedules` creates missing entries by name and never overwrites what an operator changed.
"""

from __future__ import annotations

import json

from stockhub.queues import Queue, broker_priority

RECONCILE_EVERY_SECONDS = 60


def sync_schedules() -> list[str]:
    """Create the default periodic tasks that do not exist yet; returns the names created."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created = []
    every_minute, _ = IntervalSchedule.objects.get_or_create(
        every=RECONCILE_EVERY_SECONDS, period=IntervalSchedule.SECONDS
    )
    # Every minute, so a job whose message was lost waits at most about a minute plus the republish delay.
    _, made = PeriodicTask.objects.get_or_create(
        name="reconcile jobs",
        defaults={
            "task": "foreground.reconcile_jobs",
            "interval": every_minute,
            "queue": str(Queue.FOREGROUND),
            "priority": broker_priority(2),
            "expires": None,
            "expire_seconds": RECONCILE_EVERY_SECONDS - 5,  # a late copy is useless once the next one is due
            "kwargs": json.dumps({}),
            "description": "Re-queue jobs of dead workers and re-send jobs whose broker message was lost.",
        },
    )
    if made:
        created.append("reconcile jobs")
    return created
