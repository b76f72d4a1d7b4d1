"""Queue statistics and alerts: what `queue_stats` and GET /api/queues/stats show.

Depths come from the broker (per priority on Redis); everything else from the job rows. An alert is logged
once when its condition starts and once when it recovers (AlertState keeps the last state).
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from ingest.broker import queue_depths_by_priority
from ingest.market import last_completed_session
from ingest.models import AlertState, Bar, FetchJob, JobStatus, QueueState, Ticker, Timeframe
from notifications.services import notify_queue_alert
from stockhub.queues import Queue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueStats:
    queue: str
    depth: int | None  # messages waiting in the broker (None: broker unreachable)
    depth_by_priority: dict[int, int]  # our 1..10 scale -> messages (Redis) or queued jobs (other brokers)
    queued: int
    running: int
    succeeded_last_hour: int
    failed_last_hour: int
    throughput_per_minute: float
    oldest_waiting_seconds: float | None
    wait_p50_seconds: float | None
    wait_p95_seconds: float | None
    run_p50_seconds: float | None
    run_p95_seconds: float | None
    efficiency_percent: float | None  # succeeded / finished in the last hour
    paused: bool = False  # paused by an operator (ingest.services.control): nothing new starts


@dataclass(frozen=True)
class Alert:
    name: str
    active: bool
    value: float
    threshold: float
    message: str


@dataclass(frozen=True)
class QueueReport:
    generated_at: datetime
    queues: list[QueueStats]
    staleness_hours: float
    alerts: list[Alert] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "generated_at": self.generated_at.isoformat(),
            "queues": [asdict(q) for q in self.queues],
            "staleness_hours": round(self.staleness_hours, 3),
            "alerts": [asdict(a) for a in self.alerts],
        }


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def _queue_stats(queue: str, depths: dict[int, int] | None, now: datetime) -> QueueStats:
    jobs = FetchJob.objects.filter(queue=queue)
    hour_ago = now - timedelta(hours=1)
    counts = dict(
        jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .values_list("status")
        .annotate(n=Count("id"))
    )
    recent = list(
        jobs.filter(finished_at__gte=hour_ago).values_list(
            "status", "created_at", "started_at", "finished_at"
        )
    )
    succeeded = sum(1 for status, *_ in recent if status == JobStatus.SUCCEEDED)
    failed = sum(1 for status, *_ in recent if status == JobStatus.FAILED)
    waits = sorted((s - c).total_seconds() for _, c, s, _ in recent if s)
    runs = sorted((f - s).total_seconds() for _, _, s, f in recent if s and f)
    oldest = jobs.filter(status=JobStatus.QUEUED).aggregate(oldest=Min("created_at"))["oldest"]
    if depths is not None and set(depths) == {0}:  # a broker without per-priority lists: use the job rows
        by_priority = dict(
            jobs.filter(status=JobStatus.QUEUED).values_list("priority").annotate(n=Count("id"))
        )
        depth = depths[0]
    else:
        by_priority = {p: n for p, n in (depths or {}).items() if n}
        depth = sum(depths.values()) if depths is not None else None
    return QueueStats(
        queue=queue,
        depth=depth,
        depth_by_priority=by_priority,
        queued=counts.get(JobStatus.QUEUED, 0),
        running=counts.get(JobStatus.RUNNING, 0),
        succeeded_last_hour=succeeded,
        failed_last_hour=failed,
        throughput_per_minute=round((succeeded + failed) / 60, 2),
        oldest_waiting_seconds=(now - oldest).total_seconds() if oldest else None,
        wait_p50_seconds=_percentile(waits, 0.50),
        wait_p95_seconds=_percentile(waits, 0.95),
        run_p50_seconds=_percentile(runs, 0.50),
        run_p95_seconds=_percentile(runs, 0.95),
        efficiency_percent=round(100 * succeeded / (succeeded + failed), 1) if succeeded + failed else None,
        paused=QueueState.objects.filter(queue=queue, paused=True).exists(),
    )


def data_staleness_hours(*, now: datetime) -> float:
    """How long the last session's daily bar has been due for the worst held ticker (0 when all have it)."""
    session = last_completed_session(now=now)
    session_day = timezone.make_aware(
        datetime(session.day.year, session.day.month, session.day.day), timezone.get_fixed_timezone(0)
    )
    held = Ticker.objects.filter(holdings__isnull=False, active=True).distinct()
    up_to_date = (
        Bar.objects.filter(ticker__in=held, timeframe=Timeframe.DAILY, ts__gte=session_day)
        .values("ticker")
        .distinct()
    )
    if not held.exclude(id__in=up_to_date).exists():
        return 0.0
    return max(0.0, (now - session.close.to_pydatetime()).total_seconds() / 3600)


def queue_report(*, now: datetime | None = None) -> QueueReport:
    """Statistics of every queue plus the alerts now active (each logged once per change of state)."""
    now = now or timezone.now()
    depths = queue_depths_by_priority()
    queues = [_queue_stats(str(q), depths.get(str(q)) if depths else None, now) for q in Queue]
    staleness = data_staleness_hours(now=now)
    alerts = _evaluate_alerts(queues, staleness)
    return QueueReport(generated_at=now, queues=queues, staleness_hours=staleness, alerts=alerts)


def _checks(queues: list[QueueStats], staleness: float) -> list[tuple[str, float, float, bool, str]]:
    checks = [
        (
            "data_staleness",
            staleness,
            settings.STOCKHUB_ALERT_STALENESS_HOURS,
            staleness > settings.STOCKHUB_ALERT_STALENESS_HOURS,
            "hours the last session's bars are overdue",
        )
    ]
    for q in queues:
        oldest_minutes = (q.oldest_waiting_seconds or 0) / 60
        efficiency = q.efficiency_percent if q.efficiency_percent is not None else 100.0
        checks += [
            (
                f"queue_depth:{q.queue}",
                float(q.depth or 0),
                settings.STOCKHUB_ALERT_QUEUE_DEPTH,
                (q.depth or 0) > settings.STOCKHUB_ALERT_QUEUE_DEPTH,
                "messages waiting",
            ),
            (
                f"oldest_wait:{q.queue}",
                oldest_minutes,
                settings.STOCKHUB_ALERT_OLDEST_WAIT_MINUTES,
                oldest_minutes > settings.STOCKHUB_ALERT_OLDEST_WAIT_MINUTES,
                "minutes the oldest job has waited",
            ),
            (
                f"efficiency:{q.queue}",
                efficiency,
                settings.STOCKHUB_ALERT_MIN_EFFICIENCY_PERCENT,
                efficiency < settings.STOCKHUB_ALERT_MIN_EFFICIENCY_PERCENT,
                "% of last hour's jobs that succeeded",
            ),
        ]
    return checks


def _evaluate_alerts(queues: list[QueueStats], staleness: float) -> list[Alert]:
    active = []
    for name, value, threshold, firing, what in _checks(queues, staleness):
        message = f"{name}: {value:.1f} {what} (threshold {threshold:g})"
        state, _ = AlertState.objects.get_or_create(name=name)
        if state.active != firing:
            changed_at = timezone.now()
            # Conditional on the state read, so two monitors checking at once announce a change only once.
            changed = AlertState.objects.filter(id=state.id, active=state.active).update(
                active=firing, value=value, threshold=threshold, message=message, changed_at=changed_at
            )
            if changed:
                log = logger.warning if firing else logger.info
                log("alert %s: %s", "FIRING" if firing else "recovered", message)
                notify_queue_alert(
                    name=name,
                    firing=firing,
                    value=value,
                    threshold=threshold,
                    message=message,
                    changed_at=changed_at,
                )
        if firing:
            active.append(Alert(name, True, round(value, 2), threshold, message))
    return active
