"""Celery doors into analysis: each task takes ids and calls one service. The lane is the task name's prefix."""

from celery import shared_task

from analysis.jobs import analyze_job
from ingest.services.jobs import run_job
from stockhub.jobtask import JobTask


@shared_task(name="analysis.compute_indicators", base=JobTask)
def compute_indicators_task(job_id: int, token: int) -> None:
    run_job(job_id=job_id, token=token, work=analyze_job)
