"""Liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics), for probes and scrapers.

/healthz answers from the process alone. /readyz checks the database, the broker, a worker on every queue
and beat's heartbeat, each with a short timeout, and answers 503 naming what is down. /metrics reads
ingest.metrics at scrape time. See docs/operations.md.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ingest.broker import queue_depths
from stockhub.queues import Queue

# The task beat sends every minute (ingest/schedules.py); its entry's last_run_at is beat's heartbeat.
# Looked up by task name, which never changes, rather than by the entry's name, which an operator may edit.
HEARTBEAT_TASK = "foreground.reconcile_jobs"


@dataclass(frozen=True)
class Check:
    """One part's state: ok, how long the check took, what is wrong, and what it saw."""

    ok: bool
    ms: float = 0.0
    error: str = ""
    seen: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "ms": self.ms, **({"error": self.error} if self.error else {}), **self.seen}


@dataclass(frozen=True)
class Readiness:
    ok: bool
    checks: dict[str, Check]

    def as_dict(self) -> dict:
        return {
            "status": "ok" if self.ok else "fail",
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }


def _timed(check: Callable[[], Check]) -> Check:
    started = time.monotonic()
    result = check()
    return Check(result.ok, round((time.monotonic() - started) * 1000, 1), result.error, result.seen)


def check_database() -> Check:
    """SELECT 1; bounded by DATABASE_CONNECT_TIMEOUT_SECONDS when the server does not answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return Check(False, error=f"database unreachable: {str(error).strip()}")
    return Check(True)


def check_broker() -> Check:
    """Connect and read each queue's depth (ingest.broker: one connection attempt, 2 s timeout)."""
    depths = queue_depths()
    if depths is None:
        return Check(False, error="broker unreachable (see the log for the transport's error)")
    return Check(True, seen={"depths": depths})


def check_workers() -> Check:
    """At least one live worker consumes each queue of stockhub.queues.Queue."""
    from celery_app import app

    try:
        replies = app.control.inspect(timeout=settings.STOCKHUB_READYZ_WORKER_TIMEOUT_SECONDS).active_queues()
    except Exception as error:  # kombu/redis/amqp raise many types for "broker gone"; all mean: no answer
        return Check(False, error=f"cannot ask the workers: {error}")
    workers: dict[str, list[str]] = {str(queue): [] for queue in Queue}
    for worker, queues in (replies or {}).items():
        for queue in queues:
            workers.setdefault(queue["name"], []).append(worker)
    missing = [str(queue) for queue in Queue if not workers[str(queue)]]
    error = f"no worker consumes: {', '.join(missing)}" if missing else ""
    return Check(not missing, error=error, seen={"workers": {q: sorted(w) for q, w in workers.items()}})


def check_beat(*, now: datetime) -> Check:
    """Beat sent the every-minute reconcile task within STOCKHUB_BEAT_HEARTBEAT_MAX_AGE_SECONDS."""
    from django_celery_beat.models import PeriodicTask

    limit = settings.STOCKHUB_BEAT_HEARTBEAT_MAX_AGE_SECONDS
    try:
        runs = list(
            PeriodicTask.objects.filter(task=HEARTBEAT_TASK, enabled=True).values_list(
                "last_run_at", flat=True
            )
        )
    except DatabaseError as error:
        return Check(False, error=f"cannot read the beat schedule: {str(error).strip()}")
    if not runs:
        return Check(False, error=f"no enabled periodic task runs {HEARTBEAT_TASK} (migrate creates one)")
    last = max((run for run in runs if run is not None), default=None)
    if last is None:
        return Check(False, error=f"beat has never sent {HEARTBEAT_TASK}")
    age = (now - last).total_seconds()
    seen = {"last_run_at": last.isoformat(), "age_seconds": round(age, 1), "max_age_seconds": limit}
    if age > limit:
        return Check(
            False, error=f"beat last sent {HEARTBEAT_TASK} {age:.0f} s ago (limit {limit} s)", seen=seen
        )
    return Check(True, seen=seen)


def readiness(*, now: datetime | None = None) -> Readiness:
    """Every part's state; ready only when all are ok. The workers are not asked when the broker is down, nor
    beat's heartbeat read when the database is."""
    now = now or timezone.now()
    checks = {"database": _timed(check_database), "broker": _timed(check_broker)}
    if checks["broker"].ok:
        checks["workers"] = _timed(check_workers)
    else:
        checks["workers"] = Check(False, error="not checked: the broker is unreachable")
    if checks["database"].ok:
        checks["beat"] = _timed(lambda: check_beat(now=now))
    else:  # a second wait for the same dead server would only double the time the probe takes
        checks["beat"] = Check(False, error="not checked: the database is unreachable")
    return Readiness(ok=all(check.ok for check in checks.values()), checks=checks)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches neither the database nor the broker."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every part is up, 503 naming the parts that are not."""
    result = readiness()
    return JsonResponse(result.as_dict(), status=200 if result.ok else 503)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, read at scrape time; behind a bearer token when STOCKHUB_METRICS_TOKEN is set."""
    from prometheus_client.exposition import choose_encoder

    from ingest.metrics import metrics_registry

    token = settings.STOCKHUB_METRICS_TOKEN
    given = request.headers.get("Authorization", "").encode()
    if token and not hmac.compare_digest(given, f"Bearer {token}".encode()):
        response = HttpResponse("a bearer token is required (STOCKHUB_METRICS_TOKEN)\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(metrics_registry()), content_type=content_type)
