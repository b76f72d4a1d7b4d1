"""The daily pipeline's schedule: the beat entry (stored in the database, editable in admin and the API)
and the task it starts, which checks the exchange calendar before starting a run."""

from __future__ import annotations

import json
import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ingest.errors import InvalidInput
from ingest.market import session_on
from ingest.models import RunTrigger, Timeframe

logger = logging.getLogger(__name__)

DAILY_PIPELINE = "daily pipeline"
DAILY_PIPELINE_TASK = "background.start_scheduled_run"
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 = Sunday


@dataclass(frozen=True)
class ScheduledStart:
    started: bool
    run_id: int | None
    message: str


def start_scheduled_run(
    *, universe: str, timeframe: str = Timeframe.DAILY, phases: str | None = None, now: datetime | None = None
) -> ScheduledStart:
    """Start the scheduled run of today's session, if today is a session and it has closed.

    Holidays and weekends are skipped; on an early-close day the session's real close counts. A second
    call for the same session (a second beat, a DST double-fire) starts nothing.
    """
    from ingest.services.pipeline import RunConflict, start_pipeline_run

    now = now or timezone.now()
    today = now.astimezone(zoneinfo.ZoneInfo(settings.STOCKHUB_MARKET_TIME_ZONE)).date()
    session = session_on(day=today)
    if session is None:
        return _skipped(f"{today} is not a trading session (weekend or holiday): no {universe} run")
    if now < session.close:
        return _skipped(f"the {today} session closes at {session.close.isoformat()}: no {universe} run yet")
    try:
        start = start_pipeline_run(
            universe=universe,
            trigger=RunTrigger.SCHEDULED,
            timeframe=timeframe,
            phases=phases,
            session_date=today,
            now=now,
        )
    except RunConflict as conflict:
        return _skipped(f"{conflict.message}; nothing started")
    except InvalidInput as error:
        logger.error("scheduled run not started: %s", error.message)
        return ScheduledStart(False, None, error.message)
    return ScheduledStart(True, start.run_id, f"run {start.run_id} started for session {today}")


def _skipped(message: str) -> ScheduledStart:
    logger.info("scheduled run skipped: %s", message)
    return ScheduledStart(False, None, message)


@dataclass(frozen=True)
class DailySchedule:
    enabled: bool
    time: str  # HH:MM in time_zone
    days: list[str]  # mon..sun
    time_zone: str
    universe: str
    timeframe: str
    phases: str
    last_run_at: datetime | None


def daily_schedule() -> DailySchedule:
    """The daily pipeline's beat entry as people edit it."""
    task = _daily_task()
    crontab = task.crontab
    days = _days_from_crontab(crontab.day_of_week)
    kwargs = json.loads(task.kwargs or "{}")
    return DailySchedule(
        enabled=task.enabled,
        time=f"{int(crontab.hour):02d}:{int(crontab.minute):02d}",
        days=days,
        time_zone=str(crontab.timezone),
        universe=kwargs.get("universe", settings.STOCKHUB_PIPELINE_UNIVERSE),
        timeframe=kwargs.get("timeframe", Timeframe.DAILY),
        phases=kwargs.get("phases", ""),
        last_run_at=task.last_run_at,
    )


def update_daily_schedule(
    *,
    enabled: bool | None = None,
    time: str | None = None,
    days: list[str] | None = None,
    time_zone: str | None = None,
    universe: str | None = None,
    timeframe: str | None = None,
    phases: str | None = None,
) -> DailySchedule:
    """Change the daily pipeline's entry; beat picks the change up on its next tick (DatabaseScheduler)."""
    from django_celery_beat.models import CrontabSchedule

    from ingest.services.pipeline import parse_phases, universe_named

    current = daily_schedule()
    hour, minute = _parse_time(time or current.time)
    day_numbers = _parse_days(days if days is not None else current.days)
    zone = _parse_zone(time_zone or current.time_zone)
    if universe is not None:
        universe_named(universe)
    if timeframe is not None and timeframe not in Timeframe.values:
        raise InvalidInput(f"unknown timeframe {timeframe!r}; use one of {', '.join(Timeframe.values)}")
    if phases:
        phases = ",".join(parse_phases(phases))
    with transaction.atomic():
        task = _daily_task()
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week=day_numbers,
            day_of_month="*",
            month_of_year="*",
            timezone=zone,
        )
        kwargs = json.loads(task.kwargs or "{}")
        for key, value in (("universe", universe), ("timeframe", timeframe), ("phases", phases)):
            if value is not None:
                kwargs[key] = value
        task.crontab, task.kwargs = crontab, json.dumps(kwargs)
        if enabled is not None:
            task.enabled = enabled
        task.save()  # PeriodicTask.save also bumps PeriodicTasks.changed, which makes beat reload
    logger.info("daily pipeline schedule changed: %s", daily_schedule())
    return daily_schedule()


def _daily_task():
    from django_celery_beat.models import PeriodicTask

    from ingest.schedules import sync_schedules

    task = PeriodicTask.objects.filter(name=DAILY_PIPELINE).select_related("crontab").first()
    if task is None:  # deleted in admin: put the default back rather than fail
        sync_schedules()
        task = PeriodicTask.objects.select_related("crontab").get(name=DAILY_PIPELINE)
    return task


def _parse_time(text: str) -> tuple[int, int]:
    try:
        parsed = datetime.strptime(str(text).strip(), "%H:%M")
    except ValueError:
        raise InvalidInput(f"time {text!r} is not HH:MM (24-hour), e.g. 16:10") from None
    return parsed.hour, parsed.minute


def _parse_days(days: list[str]) -> str:
    if not isinstance(days, list) or not days:
        raise InvalidInput('days must be a non-empty list such as ["mon", "tue", "wed", "thu", "fri"]')
    numbers = []
    for day in days:
        name = str(day).strip().lower()[:3]
        if name not in DAY_NAMES:
            raise InvalidInput(f"unknown day {day!r}; use mon, tue, wed, thu, fri, sat or sun")
        numbers.append(DAY_NAMES.index(name))
    return ",".join(str(n) for n in sorted(set(numbers)))


def _days_from_crontab(day_of_week: str) -> list[str]:
    if day_of_week == "*":
        return list(DAY_NAMES[1:]) + [DAY_NAMES[0]]
    numbers: list[int] = []
    for part in day_of_week.split(","):
        if "-" in part:
            low, high = part.split("-")
            numbers.extend(range(int(low), int(high) + 1))
        else:
            numbers.append(int(part))
    return [DAY_NAMES[n % 7] for n in sorted(set(numbers), key=lambda n: (n % 7 == 0, n))]


def _parse_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}; use an IANA name such as America/New_York") from None
    return str(name)
