"""Pause and resume: a whole queue, or one pipeline run. Nothing queued is lost either way.

A paused queue: its workers stop consuming it (a broadcast control command; a worker that starts while it is
paused does not consume it either), so its messages wait in the broker; the claim step refuses as a safety
net for a message a worker had already prefetched, parking that job in the database (published_at empty).
Running tasks finish. Resume re-adds the consumers and re-sends the parked jobs. A paused run: its import
jobs and analysis batches are refused at claim (parked), and resume sends them again and moves the run on.
The state lives in the database (QueueState, PipelineRun.status), so it survives restarts of workers and beat.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q

from ingest.errors import InvalidInput
from ingest.models import (
    FetchJob,
    JobStatus,
    Phase,
    PipelineRun,
    QueueState,
    RunStatus,
    SymbolRunStatus,
    SymbolStatus,
)
from stockhub.queues import Queue

logger = logging.getLogger(__name__)

PAUSE_COMMAND = "stockhub_pause_queue"
RESUME_COMMAND = "stockhub_resume_queue"


def check_queue(name: str) -> Queue:
    try:
        return Queue(str(name).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown queue {name!r}; use one of {', '.join(Queue)}") from None


def paused_queues() -> set[str]:
    """The names of the queues paused right now (one small indexed read)."""
    return set(QueueState.objects.filter(paused=True).values_list("queue", flat=True))


def jobs_of_paused_runs() -> list[int]:
    """Queued jobs that belong to a paused run (they wait for resume_run, not for the reconciler)."""
    paused = list(PipelineRun.objects.filter(status=RunStatus.PAUSED).values_list("id", flat=True))
    if not paused:
        return []
    return list(
        FetchJob.objects.filter(status=JobStatus.QUEUED, params__run_id__in=paused).values_list(
            "id", flat=True
        )
    )


def is_queue_paused(queue: str) -> bool:
    return QueueState.objects.filter(queue=queue, paused=True).exists()


def pause_queue(*, queue: str, user=None, reason: str = "") -> QueueState:
    """Stop starting work from `queue`; running tasks finish, queued work stays queued. Idempotent."""
    name = check_queue(queue)
    state, _ = QueueState.objects.update_or_create(
        queue=name, defaults={"paused": True, "reason": reason[:200], "changed_by": user}
    )
    _broadcast(PAUSE_COMMAND, name)
    logger.warning("queue %s paused by %s: %s", name, user or "system", reason or "no reason given")
    return state


def resume_queue(*, queue: str, user=None) -> QueueState:
    """Start consuming `queue` again and re-send the jobs parked while it was paused. Idempotent."""
    from ingest.services.jobs import send_unsent_jobs

    name = check_queue(queue)
    state, _ = QueueState.objects.update_or_create(
        queue=name, defaults={"paused": False, "reason": "", "changed_by": user}
    )
    parked = (
        FetchJob.objects.filter(queue=name, status=JobStatus.QUEUED, published_at__isnull=True)
        .exclude(id__in=jobs_of_paused_runs())
        .values_list("id", flat=True)
    )
    # Parked jobs back in the broker before the workers consume again, so priorities order them all.
    sent = send_unsent_jobs(job_ids=list(parked))
    _broadcast(RESUME_COMMAND, name)
    if name == Queue.ANALYSIS:
        for run in PipelineRun.objects.filter(status=RunStatus.RUNNING):
            _continue_run(run)
    logger.warning("queue %s resumed by %s; %s parked jobs sent again", name, user or "system", len(sent))
    return state


def _broadcast(command: str, queue: str) -> None:
    """Tell every worker; one that misses it (down, or the broker is) reads the state when it starts."""
    from celery_app import app

    try:
        app.control.broadcast(command, arguments={"queue": queue})
    except Exception as error:  # kombu/redis raise many types for "broker down": the database still says it
        logger.warning(
            "could not tell the workers that %s changed (%s); the claim step enforces it", queue, error
        )


def pause_run(*, run_id: int, user=None) -> PipelineRun:
    """Hold a running run: symbols running now finish, nothing else of it starts until resume_run."""
    with transaction.atomic():
        run = _run_for_update(run_id)
        if run.status == RunStatus.PAUSED:
            return run
        if run.status != RunStatus.RUNNING:
            raise InvalidInput(f"run {run.id} is {run.status}; only a running run can be paused")
        run.status = RunStatus.PAUSED
        run.message = f"paused by {user or 'system'}"[:300]
        run.save(update_fields=["status", "message"])
    _publish(run, "run.paused")
    logger.warning("run=%s paused by %s", run.id, user or "system")
    return run


def resume_run(*, run_id: int, user=None) -> PipelineRun:
    """Continue a paused run exactly where it stopped."""
    with transaction.atomic():
        run = _run_for_update(run_id)
        if run.status == RunStatus.RUNNING:
            return run
        if run.status != RunStatus.PAUSED:
            raise InvalidInput(f"run {run.id} is {run.status}; only a paused run can be resumed")
        run.status, run.message = RunStatus.RUNNING, ""
        run.save(update_fields=["status", "message"])
    _publish(run, "run.resumed")
    _continue_run(run)
    logger.warning("run=%s resumed by %s", run.id, user or "system")
    return run


def _run_for_update(run_id: int) -> PipelineRun:
    run = PipelineRun.objects.select_for_update().filter(id=run_id).first()
    if run is None:
        raise InvalidInput(f"no run {run_id}")
    return run


def _continue_run(run: PipelineRun) -> None:
    """Send again what the run parked while it (or its queue) was paused, then let it advance."""
    from ingest.services.job_requests import publish_jobs
    from ingest.services.pipeline import advance_run
    from ingest.services.pipeline_batches import dispatch_batches

    if run.current_phase == Phase.IMPORT:
        parked = FetchJob.objects.filter(
            run_symbols__run=run, status=JobStatus.QUEUED, published_at__isnull=True
        ).values_list("id", flat=True)
        publish_jobs(job_ids=list(parked))
    else:
        waiting = SymbolRunStatus.objects.filter(run=run, phase=run.current_phase).filter(
            Q(status=SymbolStatus.PENDING) | Q(status=SymbolStatus.QUEUED)
        )
        row_ids = list(waiting.values_list("id", flat=True))
        if row_ids:
            dispatch_batches(run=run, row_ids=row_ids)
    advance_run(run_id=run.id)


def _publish(run: PipelineRun, event: str) -> None:
    from ingest.services import pipeline_events

    pipeline_events.publish_status(
        run=PipelineRun.objects.select_related("universe").get(id=run.id), event=event
    )
