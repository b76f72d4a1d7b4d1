"""Refresh requests from people (login, the API, the dashboard): record the jobs, and when the broker is down
run a small foreground request right here, within a time limit, so the person still gets fresh data."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from ingest.models import FetchJob, JobKind, JobStatus, Ticker
from ingest.services.job_requests import request_jobs
from ingest.services.jobs import run_fetch_job

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    job_ids: list[int]
    broker_reachable: bool
    ran_here: list[int]  # jobs run in this process because the broker was down
    waiting_for_broker: list[int]  # jobs recorded but not sent; the reconciler sends them

    @property
    def message(self) -> str:
        if self.broker_reachable:
            return f"{len(self.job_ids)} jobs queued"
        parts = ["broker unreachable"]
        if self.ran_here:
            parts.append(f"{len(self.ran_here)} jobs ran directly in the web process")
        if self.waiting_for_broker:
            parts.append(
                f"{len(self.waiting_for_broker)} recorded, sent by the reconciler once the broker is back"
            )
        return "; ".join(parts)


def request_refresh(
    *,
    pairs: list[tuple[Ticker, str]],
    reason: str,
    requested_by=None,
    priority: int | None = None,
    run_here_if_broker_down: bool = False,
) -> RefreshResult:
    """Record one fetch job per (ticker, timeframe) and publish them after commit.

    With `run_here_if_broker_down`, jobs whose message could not be sent are run in this process when there
    are at most STOCKHUB_DIRECT_FETCH_MAX_JOBS of them, until STOCKHUB_DIRECT_FETCH_SECONDS have passed;
    whatever is left waits for the reconciler. Login never sets it: a login must not wait on a fetch.
    """
    if not pairs:  # most logins: nothing stale, so no queries
        return RefreshResult(job_ids=[], broker_reachable=True, ran_here=[], waiting_for_broker=[])
    requests = request_jobs(
        kind=JobKind.FETCH_BARS, pairs=pairs, reason=reason, requested_by=requested_by, priority=priority
    )
    job_ids = [request.job_id for request in requests]
    if transaction.get_connection().in_atomic_block:
        # Inside the caller's transaction nothing has been published yet; it goes out when that commits.
        return RefreshResult(job_ids=job_ids, broker_reachable=True, ran_here=[], waiting_for_broker=[])
    # publish_jobs ran on commit: a queued job without published_at is one the broker did not take, unless
    # it was held back for the user's share (sent when one of their jobs ends).
    held = [request.job_id for request in requests if request.held]
    unsent = list(
        FetchJob.objects.filter(id__in=job_ids, status=JobStatus.QUEUED, published_at__isnull=True)
        .exclude(id__in=held)
        .order_by("priority", "id")
        .values_list("id", flat=True)
    )
    ran_here: list[int] = []
    # "A few" counts the whole request, held jobs too: the broker being down, they all wait.
    few = len(unsent) + len(held) <= settings.STOCKHUB_DIRECT_FETCH_MAX_JOBS
    if unsent and run_here_if_broker_down and few:
        deadline = time.monotonic() + settings.STOCKHUB_DIRECT_FETCH_SECONDS
        for job_id in unsent:
            if time.monotonic() >= deadline:
                break
            # The token now, not at the start: a failed re-send attempt in between bumps it.
            token = FetchJob.objects.values_list("dispatch_token", flat=True).get(id=job_id)
            run_fetch_job(job_id=job_id, token=token)
            ran_here.append(job_id)
    waiting = [job_id for job_id in unsent if job_id not in ran_here]
    if unsent:
        waiting += held  # nothing sent, so none of the user's jobs will end on a worker to send them
    result = RefreshResult(
        job_ids=job_ids, broker_reachable=not unsent, ran_here=ran_here, waiting_for_broker=waiting
    )
    if unsent:
        logger.warning("refresh reason=%s jobs %s: %s", reason, job_ids, result.message)
    return result
