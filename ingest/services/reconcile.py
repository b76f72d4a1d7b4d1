"""The reconciler: the database says what should be queued; make the broker agree.

Runs every minute from beat. It puts back jobs stuck `running` on a worker that died (lease passed) and
re-sends queued jobs whose message is gone: never sent (broker was down), or lost (Redis restarted empty).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ingest.broker import queue_depths
from ingest.models import FetchJob, JobStatus
from ingest.services.jobs import publish_jobs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileResult:
    requeued_from_dead_workers: int
    republished: int
    broker_reachable: bool


def reconcile_jobs(*, now: datetime | None = None) -> ReconcileResult:
    """Make every queued job reachable by a worker; running it twice in a row changes nothing the second time."""
    now = now or timezone.now()
    requeued = FetchJob.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now).update(
        status=JobStatus.QUEUED, lease_expires_at=None, published_at=None
    )
    depths = queue_depths()
    if depths is None:
        return ReconcileResult(requeued, 0, broker_reachable=False)
    due = FetchJob.objects.filter(status=JobStatus.QUEUED).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now)
    )
    stale_before = now - timedelta(seconds=settings.STOCKHUB_REPUBLISH_AFTER_SECONDS)
    # A queue the broker reports empty while the database holds jobs sent long ago has lost them (Redis
    # restarted). A non-empty queue still holds its messages: only never-sent jobs are sent there.
    lost = Q(published_at__isnull=True)
    for queue, depth in depths.items():
        if depth == 0:
            lost |= Q(queue=queue, published_at__lt=stale_before)
    republished = len(publish_jobs(job_ids=list(due.filter(lost).values_list("id", flat=True))))
    if requeued or republished:
        logger.info("reconciler: %s jobs back from dead workers, %s re-published", requeued, republished)
    return ReconcileResult(requeued, republished, broker_reachable=True)
