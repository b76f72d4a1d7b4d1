"""Celery doors into ingest: each task takes ids and calls one service. The lane is the task name's prefix."""

from celery import shared_task

from ingest.monitoring import queue_report
from ingest.services.jobs import run_fetch_job, run_job
from ingest.services.pipeline_batches import run_pipeline_batch
from ingest.services.reconcile import reconcile_jobs, reconcile_runs
from ingest.services.schedule import start_scheduled_run
from ingest.services.ticker_queue import add_ticker_job
from ingest.services.urgency import refresh_priority_factors
from stockhub.jobtask import JobTask
from stockhub.outages import OUTAGE_ERRORS


@shared_task(name="foreground.fetch_bars", base=JobTask)
def foreground_fetch_bars_task(job_id: int, token: int) -> None:
    run_fetch_job(job_id=job_id, token=token, hand_over=True)  # the user's next fetches may follow here


@shared_task(name="background.fetch_bars", base=JobTask)
def background_fetch_bars_task(job_id: int, token: int) -> None:
    run_fetch_job(job_id=job_id, token=token)


# On the foreground lane because it is a few milliseconds of work that protects user-facing jobs; behind a
# background or analysis backlog it would arrive too late to matter.
@shared_task(name="foreground.reconcile_jobs", base=JobTask)
def reconcile_jobs_task() -> None:
    reconcile_jobs()
    reconcile_runs()


# Foreground too, for the same reason: an alert about a backlog must not wait behind that backlog.
@shared_task(name="foreground.check_queue_alerts", ignore_result=True)
def check_queue_alerts_task() -> None:
    queue_report()  # evaluates the alerts: each fires (log, webhooks) once per change of state


# Not a JobTask: its record is the run's symbol rows, not a FetchJob. Same delivery policy otherwise; a batch
# cut short by a dead worker is taken back by the reconciler when its lease passes, and one that found the
# database unreachable before its claim is sent again with backoff (run_pipeline_batch handles the rest).
@shared_task(
    name="analysis.run_pipeline_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=OUTAGE_ERRORS,
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=8,
)
def run_pipeline_batch_task(run_id: int, phase: str, row_ids: list[int]) -> None:
    run_pipeline_batch(run_id=run_id, phase=phase, row_ids=row_ids)


@shared_task(name="background.start_scheduled_run", ignore_result=True)
def start_scheduled_run_task(universe: str = "sp500", timeframe: str = "daily", phases: str = "") -> None:
    start_scheduled_run(universe=universe, timeframe=timeframe, phases=phases or None)


@shared_task(name="foreground.add_ticker", base=JobTask)
def add_ticker_task(job_id: int, token: int) -> None:
    run_job(job_id=job_id, token=token, work=add_ticker_job)


# Maintenance on the analysis lane (priority 10, behind every analysis job): a few bulk queries every 10
# minutes. Not a JobTask and no job row: a lost or failed refresh only leaves the factors one interval older,
# and the next one recomputes them all.
@shared_task(name="analysis.refresh_priorities", ignore_result=True)
def refresh_priorities_task() -> None:
    refresh_priority_factors()
