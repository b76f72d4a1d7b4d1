"""Default beat schedules, stored in the database (django-celery-beat) and editable in admin.

`sync_schedules` creates missing entries by name and never overwrites what an operator changed.
"""

from __future__ import annotations

import json

from stockhub.queues import Queue, Reason, broker_priority, route

RECONCILE_EVERY_SECONDS = 60
PRIORITY_REFRESH = "refresh priorities"
PRIORITY_REFRESH_TASK = "analysis.refresh_priorities"


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
            "priority": broker_priority(route(Reason.USER_LOGIN)[1] + 1),
            "expires": None,
            "expire_seconds": RECONCILE_EVERY_SECONDS - 5,  # a late copy is useless once the next one is due
            "kwargs": json.dumps({}),
            "description": "Re-queue jobs of dead workers and re-send jobs whose broker message was lost.",
        },
    )
    if made:
        created.append("reconcile jobs")
    _, made = PeriodicTask.objects.get_or_create(
        name="check queue alerts",
        defaults={
            "task": "foreground.check_queue_alerts",
            "interval": every_minute,
            "queue": str(Queue.FOREGROUND),
            "priority": broker_priority(route(Reason.USER_LOGIN)[1] + 1),
            "expire_seconds": RECONCILE_EVERY_SECONDS - 5,
            "kwargs": json.dumps({}),
            "description": "Queue depth, oldest wait, staleness and efficiency against their thresholds; "
            "an alert is logged and sent to queue.alert webhooks once per change of state.",
        },
    )
    if made:
        created.append("check queue alerts")
    if _ensure_daily_pipeline():
        created.append("daily pipeline")
    if _ensure_priority_refresh():
        created.append(PRIORITY_REFRESH)
    return created


def _ensure_daily_pipeline() -> bool:
    """Mon-Fri 16:10 New York time: ten minutes after the regular close, so the providers have the session's
    final bars. The crontab's own time zone handles DST; the task checks the exchange calendar for holidays
    and early closes."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from ingest.services.schedule import DAILY_PIPELINE, DAILY_PIPELINE_TASK

    if PeriodicTask.objects.filter(name=DAILY_PIPELINE).exists():
        return False  # never overwrite what an operator changed
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="10",
        hour="16",
        day_of_week="1,2,3,4,5",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.STOCKHUB_MARKET_TIME_ZONE,
    )
    _, made = PeriodicTask.objects.get_or_create(
        name=DAILY_PIPELINE,
        defaults={
            "task": DAILY_PIPELINE_TASK,
            "crontab": crontab,
            "queue": str(Queue.BACKGROUND),
            "priority": broker_priority(route(Reason.SCHEDULED)[1]),
            "expire_seconds": 6
            * 3600,  # a beat that was down all evening does not start yesterday's run at 3 am
            "kwargs": json.dumps({"universe": settings.STOCKHUB_PIPELINE_UNIVERSE, "timeframe": "daily"}),
            "description": "Import, indicators and patterns for the universe after the US close on trading days.",
        },
    )
    return made


def _ensure_priority_refresh() -> bool:
    """Every STOCKHUB_PRIORITY_REFRESH_MINUTES (10): the factors move slowly (logins, closes, a day's bar), so
    priorities ten minutes old order the background and analysis work just as well, for a few bulk queries."""
    from django.conf import settings
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=PRIORITY_REFRESH).exists():
        return False  # never overwrite what an operator changed
    every_seconds = settings.STOCKHUB_PRIORITY_REFRESH_MINUTES * 60
    interval, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period=IntervalSchedule.SECONDS)
    queue, priority = route(Reason.MAINTENANCE)
    _, made = PeriodicTask.objects.get_or_create(
        name=PRIORITY_REFRESH,
        defaults={
            "task": PRIORITY_REFRESH_TASK,
            "interval": interval,
            "queue": str(queue),
            "priority": broker_priority(priority),
            "expire_seconds": every_seconds - 5,  # a copy still waiting when the next is due is useless
            "kwargs": json.dumps({}),
            "description": "Recompute each ticker's urgency factors (holder activity, portfolio value, data "
            "age, volatility), which place background and analysis jobs inside their priority band.",
        },
    )
    return made
