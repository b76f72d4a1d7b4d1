"""The life of a FetchJob once asked for (ingest.services.job_requests): claimed once, run, retried or ended.

The row is the source of truth (an outbox): a lost message is re-sent by the reconciler, a duplicate or
superseded message finds the job already claimed (or its token stale) and does nothing.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from ingest.errors import ProviderError, StorageError
from ingest.models import ACTIVE_JOB_STATUSES, Bar, FetchJob, JobKind, JobStatus, Ticker, Timeframe
from ingest.services.derive import DERIVED_TIMEFRAMES
from ingest.services.foreground_first import mark_foreground_active
from ingest.services.job_events import publish_job_statuses
from ingest.services.job_requests import publish_job, publish_jobs, publish_jobs_on_commit, request_job
from ingest.services.sql_rows import aliased_columns, as_read_by_the_orm, model_from_columns, update_row
from ingest.services.user_slots import lock_user
from stockhub.errors import ErrorCode, StockHubError
from stockhub.events import gathered
from stockhub.logcontext import log_context
from stockhub.outages import OUTAGE_ERRORS, is_outage, wait_for_database
from stockhub.queues import Queue, Reason

if TYPE_CHECKING:
    from ingest.services.imports import FetchedBars

logger = logging.getLogger(__name__)


def worker_id() -> str:
    """host:pid of the process running a job; read per call, since prefork pool processes fork after import."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_job(*, job_id: int, token: int) -> FetchJob | None:
    """Mark the job running for this worker, or None when this message must not run it.

    None when: the token is stale (superseded message), the job ended, another worker holds a live lease, or
    the user already has their share of foreground jobs running (then the job is parked until one of the
    user's jobs ends: release_user_slot).
    """
    now = timezone.now()
    with transaction.atomic():
        # Waits for a lock, never skips it: the holder may be a request for this job (dedup, priority raise)
        # or its publisher, not only another worker; skipping would drop the message. The wait is a few ms,
        # and a second worker then finds the job running with a live lease.
        job = _locked_job_to_claim(job_id)
        if job is None or job.dispatch_token != token:
            return None
        if job.status == JobStatus.RUNNING and job.lease_expires_at and job.lease_expires_at > now:
            if not claimed_by_dead_local_worker(job.claimed_by):
                return None
        elif job.status != JobStatus.QUEUED and job.status != JobStatus.RUNNING:
            return None
        if job.status == JobStatus.RUNNING and job.attempts >= settings.STOCKHUB_JOB_MAX_ATTEMPTS:
            _fail_locked(
                job, ErrorCode.WORKER_LOST, f"worker lost {job.attempts} times (last: {job.claimed_by})"
            )
            return None
        if job.status == JobStatus.QUEUED and _held_by_a_pause(job):
            # Parked like a job over the user's limit: resume_queue / resume_run sends it again.
            job.published_at = None
            job.save(update_fields=["published_at"])
            logger.info("job=%s waits: its queue %s or its run is paused", job.id, job.queue)
            return None
        if _user_at_foreground_limit(job):
            # Parked: the message is used up and the row says "not sent"; the user's next job to finish
            # sends it again (release_user_slot), the reconciler if nothing else does.
            job.published_at = None
            job.save(update_fields=["published_at"])
            logger.info(
                "job=%s waits: user=%s has their share of foreground jobs running",
                job.id,
                job.requested_by_id,
            )
            return None
        seen_status = job.status
        running = _running_fields(now)
        for name, value in running.items():
            setattr(job, name, value)
        job.attempts += 1
        # Conditional, not a plain save: where the row lock is not real (SQLite ignores FOR UPDATE) a cancel
        # or another claim in between must win, not be overwritten.
        with connection.cursor() as cursor:
            cursor.execute(
                _CLAIM_SQL,
                [
                    running["status"],
                    connection.ops.adapt_datetimefield_value(running["started_at"]),
                    running["claimed_by"],
                    connection.ops.adapt_datetimefield_value(running["lease_expires_at"]),
                    job.attempts,
                    job.id,
                    seen_status,
                    token,
                ],
            )
            claimed = cursor.rowcount
    if claimed:
        with gathered():  # one round trip to Redis
            if job.queue == Queue.FOREGROUND:
                mark_foreground_active()
            publish_job_statuses(jobs=[job])  # the row as just written
    return job if claimed else None


_TICKER_COLUMNS = aliased_columns(Ticker, table_alias="t", prefix="ticker_")  # read by _with_its_ticker

# A claim runs once per message, so its statements are written out: built by the ORM, the claim's four
# queries cost ~2.5 ms of CPU to compile, more than the database spends on them. One read locks the job
# and says whether its queue is paused and from when to fetch; one conditional update claims it.
_LOCK_TO_CLAIM_SQL = f"""
SELECT j.*, {_TICKER_COLUMNS},
    EXISTS (SELECT 1 FROM ingest_queuestate q WHERE q.queue = j.queue AND q.paused) AS queue_paused,
    (SELECT b.ts FROM ingest_bar b WHERE b.ticker_id = j.ticker_id AND b.timeframe = j.timeframe
        ORDER BY b.ts DESC LIMIT 1) AS newest_bar_ts
FROM ingest_fetchjob j JOIN ingest_ticker t ON t.id = j.ticker_id
WHERE j.id = %s
"""
_CLAIM_SQL = """
UPDATE ingest_fetchjob SET status = %s, started_at = %s, claimed_by = %s, lease_expires_at = %s, attempts = %s
WHERE id = %s AND status = %s AND dispatch_token = %s
"""


def _locked_job_to_claim(job_id: int) -> FetchJob | None:
    """The job with its ticker, `queue_paused` and `newest_bar_ts` (the ts of the newest stored bar of its
    ticker and timeframe, for fetch_window), its row locked until the transaction ends."""
    lock = " FOR UPDATE OF j" if connection.features.has_select_for_update_of else ""
    found = list(FetchJob.objects.raw(_LOCK_TO_CLAIM_SQL + lock, [job_id]))
    if not found:
        return None
    job = _with_its_ticker(found[0])
    job.newest_bar_ts = as_read_by_the_orm(job.newest_bar_ts, Bar._meta.get_field("ts"))
    return job


def _running_fields(now: datetime) -> dict[str, object]:
    """What a claim writes on the job row: running, here, since now, leased for STOCKHUB_JOB_LEASE_SECONDS."""
    return {
        "status": JobStatus.RUNNING,
        "started_at": now,
        "claimed_by": worker_id(),
        "lease_expires_at": now + timedelta(seconds=settings.STOCKHUB_JOB_LEASE_SECONDS),
    }


def claimed_by_dead_local_worker(claimed_by: str) -> bool:
    """A redelivery after a worker was killed: its process on this host is gone, so the lease means nothing."""
    # or it names this very process: our own earlier attempt, cut short
    return local_process_gone(claimed_by) or claimed_by == worker_id()


def local_process_gone(claimed_by: str) -> bool:
    """`claimed_by` (host:pid) names a process of this host that no longer exists."""
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _held_by_a_pause(job: FetchJob) -> bool:
    """The job's queue is paused (read with the job: queue_paused), or its pipeline run is."""
    from ingest.models import PipelineRun, RunStatus

    if job.queue_paused:
        return True
    run_id = job.params.get("run_id")
    if run_id is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {PipelineRun._meta.db_table} WHERE id = %s AND status = %s",
            [run_id, RunStatus.PAUSED],
        )
        return cursor.fetchone() is not None


def _user_at_foreground_limit(job: FetchJob) -> bool:
    if job.queue != Queue.FOREGROUND or job.requested_by_id is None or job.status == JobStatus.RUNNING:
        return False
    lock_user(job.requested_by_id)  # then count: a count in the locking statement could miss a commit
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ingest_fetchjob WHERE requested_by_id = %s AND queue = %s AND status = %s",
            [job.requested_by_id, Queue.FOREGROUND.value, JobStatus.RUNNING.value],
        )
        running = cursor.fetchone()[0]
    return running >= settings.STOCKHUB_FOREGROUND_JOBS_PER_USER


# A process that ends one of a user's foreground jobs runs the user's next one itself, claimed in the same
# transaction that frees the slot, instead of sending it through the broker to be handed back: this saves
# the broker round trip and the pool's hand-over (~15 ms a job, a third of a login's per-job time). Only
# while nothing else waits in the foreground queue (another user's login goes first, through the broker as
# usual), for jobs of the same kind, and for at most this long per task, so one message never turns into
# an endless run. A process killed while running a job taken so has no message to redeliver: the
# reconciler puts such a job back as soon as the process is gone (reconcile_jobs), not only when its
# lease ends.
HAND_OVER_SECONDS = 60.0


def release_user_slot(*, job: FetchJob, hand_over: bool = False) -> FetchJob | None:
    """A foreground job of a user ended: send that user's next unsent jobs, best priority and oldest first,
    as many as their share now has room for (one, unless jobs were cancelled or asked for meanwhile).

    With hand_over, the first of them (when it is of the same kind and no other foreground message is
    waiting) is instead claimed for this process and returned, to be run next here. Inside a caller's
    transaction (a fetch job ending) the claim joins it, and messages and events go out once it commits.
    """
    if job.queue != Queue.FOREGROUND:
        return None
    taken, sending = None, []
    if job.requested_by_id is not None:
        taken, sending = _send_users_next_jobs(
            user_id=job.requested_by_id, take_kind=job.kind if hand_over else None
        )
    if not sending:  # (sending marks it too) the gap before the next foreground job starts
        mark_foreground_active()
    if taken is not None:
        # running, as claim_job announces a claim
        transaction.on_commit(partial(publish_job_statuses, jobs=[taken]))
    return taken


def send_unsent_jobs(*, job_ids: list[int]) -> list[int]:
    """Send queued, unsent jobs (the reconciler's, a resumed queue's): a user's foreground jobs only as far
    as the user's share has room (a worker meeting one over it would only park it again), the rest as
    they are. Returns the ids sent."""
    shared = Q(queue=Queue.FOREGROUND, published_at__isnull=True, requested_by__isnull=False)
    jobs = FetchJob.objects.filter(id__in=job_ids)
    users = set(jobs.filter(shared).values_list("requested_by_id", flat=True))
    others = list(jobs.exclude(shared).values_list("id", flat=True))  # read before the users' jobs are sent
    sent = [job_id for user_id in sorted(users) for job_id in send_users_next_jobs(user_id=user_id)]
    return sent + publish_jobs(job_ids=others)


def send_users_next_jobs(*, user_id: int) -> list[int]:
    """Send the user's unsent foreground jobs that fit in their share; returns the ids sent."""
    sent: list[int] = []
    with transaction.atomic():  # the sending hook runs as this commits, before the return
        _send_users_next_jobs(user_id=user_id, sent=sent)
    return sent


def _send_users_next_jobs(
    *, user_id: int, take_kind: str | None = None, sent: list[int] | None = None
) -> tuple[FetchJob | None, list[int]]:
    """send_users_next_jobs; with take_kind, also claim the first for this process (release_user_slot).

    Returns the job taken and the ids to send; they are sent when the transaction commits (the ids the
    broker took are then added to `sent`)."""
    from ingest.broker import messages_waiting

    may_take = take_kind is not None and messages_waiting(Queue.FOREGROUND) == 0
    taken = None
    with transaction.atomic(savepoint=False):
        lock_user(user_id)  # so a job being parked or asked for right now is seen here
        upcoming = list(
            FetchJob.objects.raw(
                _UPCOMING_SQL,
                [
                    # in_flight
                    user_id,
                    Queue.FOREGROUND.value,
                    JobStatus.RUNNING.value,
                    JobStatus.QUEUED.value,
                    # paused
                    Queue.FOREGROUND.value,
                    # the user's unsent jobs, due now
                    user_id,
                    Queue.FOREGROUND.value,
                    JobStatus.QUEUED.value,
                    connection.ops.adapt_datetimefield_value(timezone.now()),
                    settings.STOCKHUB_FOREGROUND_JOBS_PER_USER,
                ],  # fmt: skip
            )
        )
        free = max(settings.STOCKHUB_FOREGROUND_JOBS_PER_USER - upcoming[0].in_flight, 0) if upcoming else 0
        upcoming = upcoming[:free]
        if may_take and upcoming and upcoming[0].kind == take_kind and not upcoming[0].paused:
            taken = _claim_unsent(_with_its_ticker(upcoming[0]))
            if taken is not None:
                upcoming = upcoming[1:]
        next_ids = [job.id for job in upcoming]
        publish_jobs_on_commit(job_ids=next_ids, sent=sent)
    return taken, next_ids


# One read after each end of a user's foreground job: the user's next unsent jobs (at most a share's worth),
# each with its ticker (the job taken runs next), the count in flight (as
# user_slots.foreground_jobs_in_flight counts) and whether the lane is paused. Plain SQL: the ORM spent ~4
# ms building this query, ten times what the database spends on it.
_UPCOMING_SQL = f"""
SELECT j.*, {_TICKER_COLUMNS},
    (SELECT count(*) FROM ingest_fetchjob f WHERE f.requested_by_id = %s AND f.queue = %s
        AND (f.status = %s OR (f.status = %s AND f.published_at IS NOT NULL))) AS in_flight,
    EXISTS (SELECT 1 FROM ingest_queuestate q WHERE q.queue = %s AND q.paused) AS paused
FROM ingest_fetchjob j JOIN ingest_ticker t ON t.id = j.ticker_id
WHERE j.requested_by_id = %s AND j.queue = %s AND j.status = %s AND j.published_at IS NULL
    AND (j.not_before IS NULL OR j.not_before <= %s)
ORDER BY j.priority, j.created_at, j.id
LIMIT %s
"""


def _with_its_ticker(job: FetchJob) -> FetchJob:
    """The job read by _UPCOMING_SQL or _LOCK_TO_CLAIM_SQL, its ticker built from the columns read with it."""
    job.ticker = model_from_columns(Ticker, job, prefix="ticker_")
    return job


def _claim_unsent(job: FetchJob) -> FetchJob | None:
    """Claim a queued job that has no message out for this process (as claim_job does for a message)."""
    fields = _running_fields(timezone.now()) | {"celery_task_id": ""}  # it runs without a message of its own
    claimed = FetchJob.objects.filter(id=job.id, status=JobStatus.QUEUED, published_at__isnull=True).update(
        **fields,
        attempts=F("attempts") + 1,
        dispatch_token=F("dispatch_token") + 1,  # any message still out for it is a no-op now
    )
    if not claimed:
        return None
    # Under the user's lock nothing else bumps an unsent job's counters, so the row now holds these.
    for name, value in fields.items():
        setattr(job, name, value)
    job.attempts += 1
    job.dispatch_token += 1
    logger.info("job=%s taken over by %s without a message", job.id, job.claimed_by)
    return job


@dataclass(frozen=True)
class JobOutcome:
    """What a job's work reports; it ends up on the job row."""

    rows_stored: int = 0
    rows_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    summary: str = ""


def run_job(
    *,
    job_id: int,
    token: int,
    work: Callable[..., JobOutcome],
    fetch: Callable[[FetchJob], object] | None = None,
    hand_over: bool = False,
) -> None:
    """Claim the job, do its `work`, record the outcome; a redelivered or superseded message does nothing.

    With `fetch` (a fetch job: the provider's answer), the work is split in two: `fetch(job)` runs first,
    outside any transaction (it may wait on the network), then `work(job, fetched)` stores what it got in
    one transaction with the job's outcome and the user's next job. Without, `work(job)` runs as it likes
    (an analysis or add-ticker job commits its own steps, the latter with live progress).

    A StockHubError from either is retried (transient codes, with backoff) or fails the job with its code;
    one that does not count as an attempt (our own rate limiter's RateLimitWait) only waits for its turn.
    A database outage mid-job is retried like a transient error once the database answers again.
    With hand_over (foreground workers), the user's next jobs may follow here (see HAND_OVER_SECONDS).
    """
    job = claim_job(job_id=job_id, token=token)
    hand_over_until = time.monotonic() + HAND_OVER_SECONDS
    while job is not None:
        with log_context(
            job_id=job.id, run_id=job.params.get("run_id"), symbol=job.ticker.symbol, queue=job.queue
        ):
            try:
                # A fetch job's events (its end, its analysis job, its user's next job, its run's progress)
                # go out together as it ends. Other work may announce progress as it goes.
                with gathered() if fetch is not None else nullcontext():
                    job = _work_and_record(
                        job=job,
                        work=work,
                        fetch=fetch,
                        hand_over=hand_over and time.monotonic() < hand_over_until,
                    )
            except OUTAGE_ERRORS as error:
                _retry_after_outage(job=job, error=error)
                job = None


def _work_and_record(
    *,
    job: FetchJob,
    work: Callable[..., JobOutcome],
    fetch: Callable[[FetchJob], object] | None = None,
    hand_over: bool = False,
) -> FetchJob | None:
    """Run one claimed job and record its outcome; returns the job handed over to run next, if any."""
    try:
        if fetch is None:
            outcome = work(job)
            taken = _record_success(job=job, outcome=outcome, hand_over=hand_over)
        else:
            fetched = fetch(job)
            # One commit for the job's bars, the analysis it asks for, its outcome and the user's next job
            # (four before): each commit and each BEGIN is a round trip that waits for a busy server.
            with transaction.atomic():
                outcome = work(job, fetched)
                taken = _record_success(job=job, outcome=outcome, hand_over=hand_over)
    except StockHubError as error:
        _end_or_retry(job=job, error=error)
        return release_user_slot(job=job, hand_over=hand_over)
    except Exception as error:
        if is_outage(error):
            raise  # not the job's fault: run_job puts it back
        # before the release, so the slot really is free
        fail_job_unexpectedly(job_id=job.id, error=error)
        release_user_slot(job=job)
        raise
    logger.info(
        "job=%s %s ticker=%s timeframe=%s succeeded: %s",
        job.id,
        job.kind,
        job.ticker.symbol,
        job.timeframe,
        outcome.summary,
    )
    job_ended(jobs=[job])
    return taken


def _record_success(*, job: FetchJob, outcome: JobOutcome, hand_over: bool) -> FetchJob | None:
    """The job succeeded: write its outcome and free its user's slot (taking the next job, with hand_over)."""
    finished = {
        "status": JobStatus.SUCCEEDED,
        "finished_at": timezone.now(),
        "lease_expires_at": None,
        "error_code": "",
        "error_message": "",
        "rows_stored": outcome.rows_stored,
        "rows_rejected": outcome.rows_rejected,
        "rejected_by_reason": outcome.rejected_by_reason,
    }
    update_row(FetchJob, job.id, finished)
    for name, value in finished.items():
        setattr(job, name, value)  # as written, for the status event
    return release_user_slot(job=job, hand_over=hand_over)


def _retry_after_outage(*, job: FetchJob, error: Exception) -> None:
    """The database went away while the job ran (or while its outcome was written): once it answers again,
    retry the job like any transient error. If it stays away, the job's lease ends and the reconciler
    takes it back; either way the job is never failed for an outage."""
    if not wait_for_database():
        logger.warning(
            "job=%s database unreachable (%s); the reconciler takes the job back when its lease ends",
            job.id,
            error,
        )
        return
    status = FetchJob.objects.filter(id=job.id, claimed_by=job.claimed_by).values_list("status", flat=True)
    if status.first() == JobStatus.RUNNING:
        _end_or_retry(job=job, error=StorageError(f"database connection lost: {error}".strip()))
    release_user_slot(job=job)
    job_ended(job_ids=[job.id])  # an outcome written just before the cut is passed on to its run


def run_fetch_job(*, job_id: int, token: int, hand_over: bool = False) -> None:
    run_job(job_id=job_id, token=token, fetch=fetch_job_window, work=store_job_bars, hand_over=hand_over)


def fetch_job_window(job: FetchJob) -> FetchedBars:
    """A fetch job's network half: the provider's bars for the job's window."""
    from ingest.services.imports import fetch_from_provider

    start, end = fetch_window(job=job, now=timezone.now())
    return fetch_from_provider(
        ticker=job.ticker,
        timeframe=job.timeframe,
        start=start,
        end=end,
        provider_name=job.params.get("provider"),
    )


def store_job_bars(job: FetchJob, fetched: FetchedBars) -> JobOutcome:
    """A fetch job's database half: store the bars, and ask for analysis when they changed."""
    from ingest.services.imports import store_fetched

    result = store_fetched(fetched, derive=not job.params.get("defer_derive", False))
    if result.rows_read and result.rejected_total == result.rows_read:
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(result.rejected.items()))
        raise ProviderError(
            f"{job.ticker.symbol}: all {result.rows_read} bars from the provider were invalid ({reasons})",
            code=ErrorCode.VALIDATION_FAILED,
        )
    changed = result.stored.new + result.stored.updated
    # New daily bars also changed the weekly and monthly bars store_fetched derived from them: one analysis
    # job for the ticker covers all three (one row and one message, not three, in every fetch). A pipeline
    # run's import job leaves analysis to the run's own phases, which analyse 50 symbols at a time.
    derived = DERIVED_TIMEFRAMES if job.timeframe == Timeframe.DAILY else ()
    if changed and "run_id" not in job.params:
        request_job(
            kind=JobKind.COMPUTE_INDICATORS,
            ticker=job.ticker,
            timeframe=job.timeframe,
            reason=Reason.ANALYSIS,
            params={"timeframes": [str(timeframe) for timeframe in (job.timeframe, *derived)]},
        )
    return JobOutcome(
        rows_stored=changed,
        rows_rejected=result.rejected_total,
        rejected_by_reason=result.rejected,
        summary=f"{result.stored.new} new, {result.stored.updated} updated, {result.rejected_total} rejected",
    )


def fetch_window(*, job: FetchJob, now: datetime) -> tuple[datetime, datetime]:
    """Incremental from the newest stored bar (minus an overlap for corrections), else the lookback."""
    if "start" in job.params:
        return datetime.fromisoformat(job.params["start"]), datetime.fromisoformat(
            job.params.get("end") or now.isoformat()
        )
    if hasattr(job, "newest_bar_ts"):  # read with the claim
        newest = job.newest_bar_ts
    else:
        newest = (
            Bar.objects.filter(ticker=job.ticker, timeframe=job.timeframe)
            .order_by("-ts")
            .values_list("ts", flat=True)
            .first()
        )
    if newest is None:
        return now - timedelta(days=settings.STOCKHUB_LOOKBACK_DAYS[job.timeframe]), now
    return newest - timedelta(days=settings.STOCKHUB_FETCH_OVERLAP_DAYS), now


def retry_delay_seconds(*, attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    ceiling = min(
        settings.STOCKHUB_RETRY_MAX_SECONDS, settings.STOCKHUB_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    )
    return max(retry_after or 0.0, random.uniform(ceiling / 2, ceiling))


def _end_or_retry(*, job: FetchJob, error: StockHubError) -> None:
    if not error.counts_as_attempt:
        # Our own rate limiter said "not yet": the provider was never asked, so the attempt is given back
        # and the job waits for its turn (retry_after already spaces waiting jobs one slot apart).
        _queue_again(job=job, error=error, delay=error.retry_after or 0.0, give_back_attempt=True)
        logger.info(
            "job=%s ticker=%s waits %.1fs for a provider request slot",
            job.id,
            job.ticker.symbol,
            error.retry_after,
        )
        return
    if error.retryable and job.attempts < settings.STOCKHUB_JOB_MAX_ATTEMPTS:
        delay = retry_delay_seconds(attempts=job.attempts, retry_after=error.retry_after)
        _queue_again(job=job, error=error, delay=delay)
        logger.warning(
            "job=%s ticker=%s attempt %s failed [%s]; retrying in %.1fs",
            job.id,
            job.ticker.symbol,
            job.attempts,
            error.code,
            delay,
        )
        return
    fail_job(job_id=job.id, code=error.code, message=error.message)


def _queue_again(
    *, job: FetchJob, error: StockHubError, delay: float, give_back_attempt: bool = False
) -> None:
    FetchJob.objects.filter(id=job.id).update(
        status=JobStatus.QUEUED,
        attempts=F("attempts") - int(give_back_attempt),
        error_code=error.code,
        error_message=error.message,
        lease_expires_at=None,
        not_before=timezone.now() + timedelta(seconds=delay),
    )
    publish_job(job_id=job.id, countdown=delay)


def _fail_locked(job: FetchJob, code: str, message: str) -> None:
    job.status, job.error_code, job.error_message = JobStatus.FAILED, code, message
    job.finished_at, job.lease_expires_at = timezone.now(), None
    job.save(update_fields=["status", "error_code", "error_message", "finished_at", "lease_expires_at"])
    logger.warning("job=%s failed [%s] %s", job.id, code, message)
    transaction.on_commit(partial(job_ended, job_ids=[job.id]))


def fail_job(*, job_id: int, code: str, message: str) -> None:
    failed = FetchJob.objects.filter(id=job_id, status__in=ACTIVE_JOB_STATUSES).update(
        status=JobStatus.FAILED,
        error_code=code,
        error_message=message[:2000],
        finished_at=timezone.now(),
        lease_expires_at=None,
    )
    if not failed:  # it had ended already (e.g. a task's on_failure after its job recorded the error)
        return
    logger.warning("job=%s failed [%s] %s", job_id, code, message)
    job_ended(job_ids=[job_id])


def job_ended(*, job_ids: list[int] = (), jobs: list[FetchJob] = ()) -> None:
    """Jobs ended (succeeded, failed or cancelled): tell the pipeline runs waiting for them, if any, and the
    pages watching them (stockhub:jobs:status). `jobs` are objects as just written (see publish_job_statuses)."""
    from ingest.services.pipeline import record_import_outcomes

    record_import_outcomes(job_ids=[*job_ids, *(job.id for job in jobs)])
    publish_job_statuses(job_ids=job_ids, jobs=jobs)


def fail_job_unexpectedly(*, job_id: int, error: BaseException) -> None:
    fail_job(job_id=job_id, code=ErrorCode.INTERNAL_ERROR, message=f"{type(error).__name__}: {error}")


def cancel_jobs(*, job_ids: list[int]) -> int:
    """Cancel the queued ones among `job_ids`; their messages become no-ops. Running jobs finish."""
    queued = FetchJob.objects.filter(id__in=job_ids, status=JobStatus.QUEUED)
    sharing = set(
        queued.filter(queue=Queue.FOREGROUND, requested_by__isnull=False).values_list(
            "requested_by_id", flat=True
        )
    )
    cancelled = queued.update(status=JobStatus.CANCELLED, finished_at=timezone.now(), lease_expires_at=None)
    logger.info("cancelled %s of %s jobs asked for", cancelled, len(job_ids))
    job_ended(job_ids=job_ids)
    for user_id in sorted(sharing):  # a cancelled job that was sent held a place in its user's share
        send_users_next_jobs(user_id=user_id)
    return cancelled


def retry_jobs(*, job_ids: list[int], requested_by=None) -> list[int]:
    """Ask again, as new jobs with the same kind, ticker, timeframe, reason and params, for the failed or
    cancelled ones among `job_ids`; returns the ids of the jobs now active for them."""
    ended = FetchJob.objects.filter(id__in=job_ids, status__in=[JobStatus.FAILED, JobStatus.CANCELLED])
    return [
        request_job(
            kind=job.kind,
            ticker=job.ticker,
            timeframe=job.timeframe,
            reason=job.reason,
            requested_by=requested_by or job.requested_by,
            priority=job.priority,
            params=job.params,
        ).job_id
        for job in ended.select_related("ticker", "requested_by")
    ]
