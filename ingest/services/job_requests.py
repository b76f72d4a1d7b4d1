"""Asking for jobs: the row first, in the caller's transaction, and its broker message after commit.

At most one queued-or-running job per (kind, ticker, timeframe); asking again returns it, asking with a
higher priority moves it up. The row is the source of truth (an outbox): a message the broker did not take
is sent by the reconciler. The life of a job once asked for is in ingest.services.jobs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from ingest.models import ACTIVE_JOB_STATUSES, FetchJob, JobKind, JobStatus, Ticker
from ingest.services.foreground_first import mark_foreground_active
from ingest.services.job_events import publish_job_statuses
from ingest.services.urgency import stored_priority
from ingest.services.user_slots import free_slots, lock_user
from stockhub.queues import DYNAMIC_PRIORITY_REASONS, PRIORITY_BANDS, Queue, broker_priority, route

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRequest:
    job_id: int
    created: bool  # False: an active job for the same ticker and timeframe already existed
    reprioritised: bool = False
    held: bool = False  # not sent yet: the user's foreground share is full; one of their jobs ending sends it


def request_fetch(
    *,
    ticker: Ticker,
    timeframe: str,
    reason: str,
    requested_by=None,
    priority: int | None = None,
    params: dict | None = None,
    publish: bool = True,
) -> JobRequest:
    """Record a job fetching `ticker`'s bars of `timeframe` (see request_job)."""
    return request_job(
        kind=JobKind.FETCH_BARS,
        ticker=ticker,
        timeframe=timeframe,
        reason=reason,
        requested_by=requested_by,
        priority=priority,
        params=params,
        publish=publish,
    )


def request_job(
    *,
    kind: str,
    ticker: Ticker,
    timeframe: str,
    reason: str,
    requested_by=None,
    priority: int | None = None,
    params: dict | None = None,
    publish: bool = True,
) -> JobRequest:
    """Record a job and publish it after commit; at most one queued-or-running job per (kind, ticker, timeframe).

    Asking again for an active job returns it; asking with a higher priority (a smaller number) moves the
    queued job up, and the message sent before becomes a no-op. With publish=False the caller sends the
    created or moved-up jobs itself (a pipeline run sends its imports in one batch).
    """
    return request_jobs(
        kind=kind,
        pairs=[(ticker, timeframe)],
        reason=reason,
        requested_by=requested_by,
        priority=priority,
        params=params,
        publish=publish,
    )[0]


def job_priority(*, ticker: Ticker, reason: str, priority: int | None) -> tuple[Queue, int]:
    """The queue and priority of a job for `ticker` asked for `reason`: the one given, else the ticker's
    urgency inside the band for the reasons that have one (refreshed by beat; until first computed, the
    reason's default), else the reason's default; always clamped into the queue's band."""
    queue, default_priority = route(reason)
    low, high = PRIORITY_BANDS[queue]
    if priority is None and reason in DYNAMIC_PRIORITY_REASONS:
        priority = stored_priority(ticker=ticker, queue=queue)
    return queue, min(max(priority or default_priority, low), high)


def request_jobs(
    *,
    kind: str,
    pairs: list[tuple[Ticker, str]],
    reason: str,
    requested_by=None,
    priority: int | None = None,
    params: dict | None = None,
    publish: bool = True,
) -> list[JobRequest]:
    """request_job's rules for each (ticker, timeframe), in bulk: one insert for them all (plus a locking read
    of those that have an active job, and one update for those it moves up), and the created and moved-up
    jobs sent in one batch over one broker connection (after the caller's transaction, if there is one). A
    login asks for its 20 tickers in a few milliseconds."""
    queue = route(reason)[0]
    priorities = {
        ticker.id: job_priority(ticker=ticker, reason=reason, priority=priority)[1] for ticker, _ in pairs
    }
    wanted = list(dict.fromkeys((ticker.id, timeframe) for ticker, timeframe in pairs))
    # No savepoint inside a caller's transaction (a fetch job asks for its analysis in the one that stores
    # its bars): an error here fails the whole of it anyway.
    with transaction.atomic(savepoint=False):
        # Insert first (one statement, the common case: nothing active yet), then read and lock the active
        # jobs that kept some pairs out; a pair whose active job ended in between is inserted again.
        created: dict[tuple[int, str], dict] = {}
        active: dict[tuple[int, str], dict] = {}
        pending = wanted
        for _ in range(3):
            new = _insert_jobs(
                [
                    FetchJob(
                        kind=kind,
                        ticker_id=ticker_id,
                        timeframe=timeframe,
                        reason=reason,
                        priority=priorities[ticker_id],
                        queue=queue,
                        requested_by=requested_by,
                        params=params or {},
                    )
                    for ticker_id, timeframe in pending
                ]
            )
            created |= new
            active |= _active_jobs(kind=kind, pairs=[pair for pair in pending if pair not in new])
            pending = [pair for pair in pending if pair not in created and pair not in active]
            if not pending:
                break
        raised: dict[int, list[int]] = {}  # new priority -> ids of queued jobs it moves up
        for (ticker_id, _), job in active.items():
            if job["status"] == JobStatus.QUEUED and priorities[ticker_id] < job["priority"]:
                raised.setdefault(priorities[ticker_id], []).append(job["id"])
        for new_priority, ids in raised.items():
            FetchJob.objects.filter(id__in=ids).update(priority=new_priority, queue=queue, reason=reason)
            if requested_by is not None:
                FetchJob.objects.filter(id__in=ids, requested_by__isnull=True).update(
                    requested_by=requested_by
                )
        raised_ids = {job_id for ids in raised.values() for job_id in ids}
        requests = {pair: JobRequest(job_id=job["id"], created=True) for pair, job in created.items()} | {
            pair: JobRequest(job_id=job["id"], created=False, reprioritised=job["id"] in raised_ids)
            for pair, job in active.items()
        }
        to_send = [r.job_id for r in requests.values() if r.created or r.reprioritised]
        held: set[int] = set()
        if queue == Queue.FOREGROUND and requested_by is not None:
            sending = _within_user_share(
                user_id=requested_by.pk,
                created=[r.job_id for r in requests.values() if r.created],
                to_send=to_send,
            )
            held = set(to_send) - set(sending)
            requests = {
                pair: replace(r, held=True) if r.job_id in held else r for pair, r in requests.items()
            }
            to_send = sending
        # An active job asked for again that is already waiting for its user's share (this user's or
        # another's) is held too: one of that user's jobs ending sends it. Not the broker's doing.
        waiting = _waiting_for_a_share([job for job in active.values() if job["id"] not in to_send])
        requests = {pair: replace(r, held=True) if r.job_id in waiting else r for pair, r in requests.items()}
        # Commit hooks run in the order registered: the messages first, since a worker waits for them.
        if publish:
            publish_jobs_on_commit(job_ids=to_send)
        if held:  # pages show them queued now, not only once they are sent
            transaction.on_commit(partial(publish_job_statuses, job_ids=sorted(held)))
    return [requests[(ticker.id, timeframe)] for ticker, timeframe in pairs]


def _waiting_for_a_share(jobs: list[dict]) -> set[int]:
    """The ids of those of `jobs` that wait, unsent, for a place in their user's full share. A user's unsent
    job while the share has room is waiting for the broker (the reconciler sends it), not for the share."""
    unsent = [
        job
        for job in jobs
        if job["status"] == JobStatus.QUEUED
        and job["queue"] == Queue.FOREGROUND
        and job["published_at"] is None
        and job["requested_by_id"] is not None
    ]
    full = {
        user_id for user_id in {job["requested_by_id"] for job in unsent} if not free_slots(user_id=user_id)
    }
    return {job["id"] for job in unsent if job["requested_by_id"] in full}


def _within_user_share(*, user_id: int, created: list[int], to_send: list[int]) -> list[int]:
    """Of the user's new foreground jobs, only as many are sent as fit in their share
    (ingest.services.user_slots); the rest stay queued and unsent, and each end of one of the user's
    foreground jobs sends the next. So a login's twenty jobs are not twenty messages ahead of the next user's
    login in the queue, and no worker picks one up only to park it. Moved-up jobs are always sent: their
    earlier message must be superseded."""
    if not created:
        return to_send
    lock_user(user_id)
    moved_up = len(to_send) - len(created)
    free = max(free_slots(user_id=user_id, excluding=to_send) - moved_up, 0)
    held = set(sorted(created)[free:])  # ids grow in the order the jobs were asked for
    return [job_id for job_id in to_send if job_id not in held]


# ON CONFLICT DO NOTHING: the partial unique index allows one active job per kind, ticker and timeframe, so a
# pair that has one is left out (and returns nothing). Rows go in the order asked for, so ids grow in that
# order (the user's share sends the first ones). SQLite (3.35+) reads this too.
INSERT_BATCH_ROWS = 500
_INSERT_SQL = (
    "INSERT INTO {table} ({columns}) VALUES {rows} ON CONFLICT DO NOTHING RETURNING id, ticker_id, timeframe"
)


def _insert_jobs(jobs: list[FetchJob]) -> dict[tuple[int, str], dict]:
    """Insert the jobs whose (kind, ticker, timeframe) has no active job; (ticker id, timeframe) -> {"id"} of
    each one inserted."""
    fields = [field for field in FetchJob._meta.concrete_fields if not field.primary_key]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    inserted = {}
    with connection.cursor() as cursor:
        # In bounded batches: SQLite may take only 32,766 parameters in one statement.
        for first in range(0, len(jobs), INSERT_BATCH_ROWS):
            batch = jobs[first : first + INSERT_BATCH_ROWS]
            sql = _INSERT_SQL.format(
                table=FetchJob._meta.db_table, columns=columns, rows=", ".join([row] * len(batch))
            )
            values = [
                field.get_db_prep_save(field.pre_save(job, add=True), connection)
                for job in batch
                for field in fields
            ]
            cursor.execute(sql, values)
            inserted |= {(ticker_id, tf): {"id": job_id} for job_id, ticker_id, tf in cursor.fetchall()}
    return inserted


def _active_jobs(*, kind: str, pairs: list[tuple[int, str]]) -> dict[tuple[int, str], dict]:
    """(ticker id, timeframe) -> the active job's id, status and priority, locked until the transaction ends."""
    if not pairs:
        return {}
    rows = (
        FetchJob.objects.select_for_update()
        .filter(
            kind=kind,
            ticker_id__in={ticker_id for ticker_id, _ in pairs},
            timeframe__in={timeframe for _, timeframe in pairs},
            status__in=ACTIVE_JOB_STATUSES,
        )
        .values(
            "id", "ticker_id", "timeframe", "status", "priority", "queue", "published_at", "requested_by_id"
        )
    )
    wanted = set(pairs)
    return {key: row for row in rows if (key := (row["ticker_id"], row["timeframe"])) in wanted}


def publish_job(*, job_id: int, countdown: float | None = None) -> bool:
    """Send one job's message (see publish_jobs); False when it was not sent."""
    return bool(publish_jobs(job_ids=[job_id], countdown=countdown))


def task_id_for(job_id: int, token: int) -> str:
    """The Celery task id of a job's message: one per send, readable in Flower and the logs."""
    return f"job-{job_id}-{token}"


def publish_jobs(*, job_ids: list[int], countdown: float | None = None) -> list[int]:
    """Send the messages of the queued ones among `job_ids`, each with a fresh token, best priority first,
    over one broker connection; returns the ids sent.

    A job the broker does not take keeps its row `queued` with no `published_at`, for the reconciler. Never
    raises for a broker problem, so a web request is never failed by one.
    """
    if not job_ids:
        return []
    return _send_marked(_mark_sent(job_ids), countdown=countdown)


def publish_jobs_on_commit(*, job_ids: list[int], sent: list[int] | None = None) -> None:
    """publish_jobs from inside a transaction: the jobs are marked sent in it (no second transaction after it)
    and their messages go out once it commits; the ids the broker took are then added to `sent`."""
    marked = _mark_sent(job_ids) if job_ids else []
    if marked:
        taken_by_broker = [] if sent is None else sent
        transaction.on_commit(lambda: taken_by_broker.extend(_send_marked(marked)))


def _send_marked(jobs: list[dict], countdown: float | None = None) -> list[int]:
    """publish_jobs' broker half, for jobs _mark_sent has just marked (and committed)."""
    from celery_app import app

    if not jobs:
        return []
    if any(job["queue"] == Queue.FOREGROUND for job in jobs):
        mark_foreground_active()
    sent: list[int] = []
    try:
        with app.producer_or_acquire() as producer:
            for job in jobs:
                token = job["dispatch_token"]
                app.send_task(
                    f"{job['queue']}.{job['kind']}",  # the lane's task for this kind, e.g. analysis.compute_indicators
                    args=[job["id"], token],
                    task_id=task_id_for(job["id"], token),
                    queue=job["queue"],
                    priority=broker_priority(job["priority"]),
                    countdown=countdown,
                    retry=False,
                    producer=producer,
                )
                sent.append(job["id"])
                logger.info(
                    "job=%s ticker=%s queue=%s priority=%s published",
                    job["id"],
                    job["ticker_id"],
                    job["queue"],
                    job["priority"],
                )
    except Exception as error:  # kombu/redis/amqp raise many types for "broker down"; all mean: try later
        for job in jobs[len(sent) :]:
            FetchJob.objects.filter(id=job["id"], dispatch_token=job["dispatch_token"]).update(
                published_at=None
            )
            logger.warning(
                "job=%s queue=%s not published, broker unreachable (%s); the reconciler will send it",
                job["id"],
                job["queue"],
                error,
            )
    publish_job_statuses(rows=jobs)  # queued: sent, or waiting for the reconciler
    return sent


# One statement takes the next token of each queued job and stamps it sent (no read-then-write: the UPDATE's
# row locks serialise two publishers of one job, and each returns the token it wrote), and returns what the
# message and the status event need. SQLite (3.35+) has UPDATE ... RETURNING too.
_MARK_SENT_SQL = """
UPDATE ingest_fetchjob
SET dispatch_token = dispatch_token + 1, published_at = %s,
    celery_task_id = 'job-' || id || '-' || (dispatch_token + 1)
WHERE status = %s AND id IN ({ids})
RETURNING id, kind, queue, priority, ticker_id, dispatch_token, timeframe, status, requested_by_id, attempts,
    error_code, error_message, progress, (SELECT symbol FROM ingest_ticker WHERE ingest_ticker.id = ingest_fetchjob.ticker_id)
"""
_MARKED_COLUMNS = (
    "id", "kind", "queue", "priority", "ticker_id", "dispatch_token", "timeframe", "status", "requested_by_id",
    "attempts", "error_code", "error_message", "progress", "ticker__symbol",
)  # fmt: skip


def _mark_sent(job_ids: list[int]) -> list[dict]:
    """The queued ones among `job_ids`, each with its new token, best priority first."""
    unique = sorted(set(job_ids))
    sql = _MARK_SENT_SQL.format(ids=", ".join(["%s"] * len(unique)))
    # One statement: atomic on its own, or a part of the caller's transaction (publish_jobs_on_commit).
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), JobStatus.QUEUED, *unique])
        jobs = [dict(zip(_MARKED_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    for job in jobs:
        if isinstance(job["progress"], str):  # SQLite returns JSON as text
            job["progress"] = json.loads(job["progress"])
    return sorted(jobs, key=lambda job: (job["priority"], job["id"]))
