"""The reconciler: the database says what should be queued; make the broker agree.

Runs every minute from beat. It puts back jobs stuck `running` on a worker that died (its process on this
host gone, or its lease passed) and re-sends queued jobs whose message is gone: never sent (broker was
down), or lost (Redis restarted empty).
A user's unsent foreground jobs are sent only as far as the user's share has room (ingest.services.user_slots).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ingest.broker import queue_depths
from ingest.models import FetchJob, JobStatus
from ingest.services.jobs import local_process_gone, send_unsent_jobs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileResult:
    requeued_from_dead_workers: int
    republished: int
    broker_reachable: bool


def reconcile_jobs(*, now: datetime | None = None) -> ReconcileResult:
    """Make every queued job reachable by a worker; running it twice in a row changes nothing the second time."""
    now = now or timezone.now()
    # A job whose process on this host is gone is back at once (one taken over without a message of its
    # own has none to redeliver: ingest.services.jobs.HAND_OVER_SECONDS); elsewhere, once its lease passed.
    running_here = FetchJob.objects.filter(
        status=JobStatus.RUNNING, claimed_by__startswith=f"{socket.gethostname()}:"
    ).values_list("id", "claimed_by")
    orphans = [job_id for job_id, claimed_by in running_here if local_process_gone(claimed_by)]
    requeued = (
        FetchJob.objects.filter(status=JobStatus.RUNNING)
        .filter(Q(lease_expires_at__lt=now) | Q(id__in=orphans))
        .update(status=JobStatus.QUEUED, lease_expires_at=None, published_at=None)
    )
    depths = queue_depths()
    if depths is None:
        return ReconcileResult(requeued, 0, broker_reachable=False)
    from ingest.services.control import jobs_of_paused_runs, paused_queues

    # Jobs parked by a pause wait for the resume, which sends them; the reconciler leaves them be.
    due = (
        FetchJob.objects.filter(status=JobStatus.QUEUED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .exclude(queue__in=paused_queues())
        .exclude(id__in=jobs_of_paused_runs())
    )
    stale_before = now - timedelta(seconds=settings.STOCKHUB_REPUBLISH_AFTER_SECONDS)
    # A queue the broker reports empty while the database holds jobs sent long ago has lost them (Redis
    # restarted). A non-empty queue still holds its messages: only never-sent jobs are sent there.
    lost = Q(published_at__isnull=True)
    for queue, depth in depths.items():
        if depth == 0:
            lost |= Q(queue=queue, published_at__lt=stale_before)
    sent = send_unsent_jobs(job_ids=list(due.filter(lost).values_list("id", flat=True)))
    republished = len(sent)
    if requeued or republished:
        logger.info("reconciler: %s jobs back from dead workers, %s re-published", requeued, republished)
    return ReconcileResult(requeued, republished, broker_reachable=True)


@dataclass(frozen=True)
class RunReconcileResult:
    runs: int
    imports_recorded: int
    batches_resent: int


def reconcile_runs(*, now: datetime | None = None) -> RunReconcileResult:
    """Keep every running pipeline run moving: take the outcome of import jobs whose end was not recorded,
    re-send analysis batches whose message was lost or whose worker died, and advance finished phases."""
    from ingest.models import (
        OPEN_SYMBOL_STATUSES,
        Phase,
        PipelineRun,
        RunStatus,
        SymbolRunStatus,
        SymbolStatus,
    )
    from ingest.services.pipeline import advance_run, record_import_outcomes
    from ingest.services.pipeline_batches import dispatch_batches

    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.STOCKHUB_REPUBLISH_AFTER_SECONDS)
    depths = queue_depths() or {}
    imports = resent = 0
    runs = list(PipelineRun.objects.filter(status=RunStatus.RUNNING))
    for run in runs:
        rows = SymbolRunStatus.objects.filter(
            run=run, phase=run.current_phase, status__in=OPEN_SYMBOL_STATUSES
        )
        if run.current_phase == Phase.IMPORT:
            ended = rows.exclude(job__isnull=True).exclude(
                job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
            )
            job_ids = list(ended.values_list("job_id", flat=True))
            record_import_outcomes(job_ids=job_ids)
            imports += len(job_ids)
            pending = list(rows.filter(status=SymbolStatus.PENDING).values_list("id", flat=True))
            if pending:  # the phase began but its dispatch was cut short
                from ingest.services.pipeline import dispatch_imports

                dispatch_imports(run=run)
        else:
            lost = Q(status=SymbolStatus.PENDING) | Q(status=SymbolStatus.RUNNING, lease_expires_at__lt=now)
            if depths.get("analysis") == 0:
                lost |= Q(status=SymbolStatus.QUEUED, dispatched_at__lt=stale_before)
            row_ids = list(rows.filter(lost).values_list("id", flat=True))
            if row_ids:
                resent += dispatch_batches(run=run, row_ids=row_ids)
        advance_run(run_id=run.id)
    if imports or resent:
        logger.info(
            "reconciler: runs=%s import outcomes recorded=%s batches re-sent=%s", len(runs), imports, resent
        )
    return RunReconcileResult(len(runs), imports, resent)
