"""Jobs announce each change of status on stockhub:jobs:status, so a page can show a refresh as it happens."""

from __future__ import annotations

import pytest

from ingest.models import FetchJob, JobStatus, Ticker
from ingest.services.job_events import JOBS_CHANNEL
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import cancel_jobs
from ingest.tests.test_pipeline_run import Subscriber
from ingest.tests.test_queue_workers import wait_until
from portfolios.tests.factories import make_user
from stockhub.queues import Reason

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def statuses(events: list[tuple[str, dict]], job_id: int) -> list[str]:
    return [
        body["payload"]["status"]
        for channel, body in events
        if channel == JOBS_CHANNEL and body["payload"]["job_id"] == job_id
    ]


def test_a_fetch_job_announces_queued_running_and_succeeded_with_its_user(workers):
    user = make_user("ann")
    subscriber = Subscriber(patterns=[JOBS_CHANNEL])
    job_id = request_fetch(
        ticker=Ticker.objects.create(symbol="AAPL"),
        timeframe="daily",
        reason=Reason.USER_LOGIN,
        requested_by=user,
    ).job_id
    workers.start("foreground")
    wait_until(
        lambda: FetchJob.objects.get(id=job_id).status == JobStatus.SUCCEEDED, seconds=60, what="the job"
    )
    events = subscriber.close()
    assert statuses(events, job_id) == ["queued", "running", "succeeded"]
    last = events[-1][1]
    assert (last["event"], last["payload"]["symbol"], last["payload"]["user_id"]) == (
        "job.status",
        "AAPL",
        user.id,
    )
    assert last["payload"]["kind"] == "fetch_bars" and last["payload"]["queue"] == "foreground"


def test_a_cancelled_job_announces_it(broker_url):
    subscriber = Subscriber(patterns=[JOBS_CHANNEL])
    job_id = request_fetch(
        ticker=Ticker.objects.create(symbol="IBM"), timeframe="daily", reason="scheduled"
    ).job_id
    cancel_jobs(job_ids=[job_id])
    assert statuses(subscriber.close(), job_id) == ["queued", "cancelled"]
