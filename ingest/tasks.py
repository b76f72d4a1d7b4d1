"""Celery doors into ingest: each task takes ids and calls one service. The lane is the task name's prefix."""

from celery import shared_task

from ingest.services.jobs import run_fetch_job
from ingest.services.reconcile import reconcile_jobs
from stockhub.jobtask import JobTask


@shared_task(name="foreground.fetch_bars", base=JobTask)
def foreground_fetch_bars_task(job_id: int, token: int) -> None:
    run_fetch_job(job_id=job_id, token=token)


@shared_task(name="background.fetch_bars", base=JobTask)
def background_fetch_bars_task(job_id: int, token: int) -> None:
    run_fetch_job(job_id=job_id, token=token)


# On the foreground lane because it is a few milliseconds of work that protects user-facing jobs; behind a
# background or analysis backlog it would arrive too late to matter.
@shared_task(name="foreground.reconcile_jobs", base=JobTask)
def reconcile_jobs_task() -> None:
    reconcile_jobs()
