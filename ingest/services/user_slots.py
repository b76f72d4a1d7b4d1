"""A user's share of the foreground lane: at most STOCKHUB_FOREGROUND_JOBS_PER_USER of their foreground jobs
in flight (sent or running). Requests send only as many as fit (job_requests), a claim over the share parks
its job (jobs.claim_job), and each end of one sends the next (jobs.release_user_slot).

Every step that counts takes the user's row lock first, after any job-row locks (the order a claim takes
them in), so counting and changing take turns and a job is never left unsent while nobody will send it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q

from ingest.models import FetchJob, JobStatus
from stockhub.queues import Queue


def lock_user(user_id: int) -> None:
    """Lock the user's row until the transaction ends (SQLite has no row locks: its writes take turns)."""
    if not connection.features.has_select_for_update:
        return
    model = get_user_model()._meta
    with connection.cursor() as cursor:  # plain SQL: this runs at every end of a foreground job
        cursor.execute(f"SELECT 1 FROM {model.db_table} WHERE {model.pk.column} = %s FOR UPDATE", [user_id])


def foreground_jobs_in_flight(*, user_id: int, excluding: list[int] = ()) -> int:
    """The user's foreground jobs running, or queued and sent (a worker may start them any moment)."""
    return (
        FetchJob.objects.filter(requested_by_id=user_id, queue=Queue.FOREGROUND)
        .filter(Q(status=JobStatus.RUNNING) | Q(status=JobStatus.QUEUED, published_at__isnull=False))
        .exclude(id__in=excluding)
        .count()
    )


def free_slots(*, user_id: int, excluding: list[int] = ()) -> int:
    return max(
        settings.STOCKHUB_FOREGROUND_JOBS_PER_USER
        - foreground_jobs_in_flight(user_id=user_id, excluding=excluding),
        0,
    )
