"""JobTask: the one base class that holds the shared delivery policy of every StockHub task."""

from __future__ import annotations

import logging

from celery import Task

from stockhub.outages import OUTAGE_ERRORS, is_outage

logger = logging.getLogger(__name__)


class JobTask(Task):
    """Tasks take (job_id, dispatch_token); the FetchJob row is the record, so results are ignored.

    acks_late + reject_on_worker_lost: a worker that dies mid-job gets the message redelivered, and the claim
    step (ingest.services.jobs.claim_job) decides whether the redelivered copy may run. Retries of provider
    errors are decided by the service from the error's code and recorded on the row, not by Celery autoretry,
    so the attempt count survives a broker restart; autoretry only covers a database outage before the claim.
    """

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    # A safety net only: every provider call has its own timeout (STOCKHUB_PROVIDER_TIMEOUT_SECONDS).
    soft_time_limit = 240
    time_limit = 300
    # The database unreachable before the job was claimed (a restart, a cut connection): send the same
    # message again shortly, with backoff; the claim decides whether it still may run. run_job handles an
    # outage after the claim itself.
    autoretry_for = OUTAGE_ERRORS
    retry_backoff = 1
    retry_backoff_max = 30
    max_retries = 8

    def __call__(self, *args, **kwargs):
        # Background and analysis jobs let foreground work go first on a shared machine (the lane is the task
        # name's prefix); see ingest/services/foreground_first.py.
        if not self.name.startswith("foreground."):
            from ingest.services.foreground_first import wait_while_foreground_active

            wait_while_foreground_active()
        return super().__call__(*args, **kwargs)

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        """An exception the service did not turn into a job outcome is a bug: record it on the job row."""
        from ingest.services.jobs import fail_job_unexpectedly

        job_id = args[0] if args else kwargs.get("job_id")
        if is_outage(exc):
            # Not a bug, and the row cannot be written anyway: the job's lease ends and the reconciler
            # takes it back (or, never claimed, re-sends it).
            logger.warning("task=%s job=%s: database unreachable: %r", self.name, job_id, exc)
            return
        if job_id is not None:
            fail_job_unexpectedly(job_id=job_id, error=exc)
        logger.error("task=%s job=%s crashed: %r", self.name, job_id, exc)
