"""Background and analysis jobs hold back while foreground work is active (ingest/services/foreground_first.py)."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings
from django.utils import timezone

from ingest.models import FetchJob, JobStatus, Ticker
from ingest.services.foreground_first import (
    FOREGROUND_ACTIVE_KEY,
    mark_foreground_active,
    wait_while_foreground_active,
)
from ingest.services.job_requests import request_fetch
from stockhub.events import redis_client
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis(broker_url):
    client = redis_client()
    client.delete(FOREGROUND_ACTIVE_KEY)
    yield client
    client.delete(FOREGROUND_ACTIVE_KEY)


@override_settings(STOCKHUB_FOREGROUND_ACTIVE_MS=300)
def test_the_mark_lasts_its_lifetime_and_a_background_claim_waits_it_out(redis):
    assert wait_while_foreground_active() < 0.05  # nothing active: no wait
    mark_foreground_active()
    assert 0 < redis.pttl(FOREGROUND_ACTIVE_KEY) <= 300
    waited = wait_while_foreground_active()
    assert 0.2 <= waited < 1.0
    assert not redis.exists(FOREGROUND_ACTIVE_KEY)


@override_settings(STOCKHUB_FOREGROUND_FIRST_MAX_WAIT_SECONDS=0.3)
def test_a_background_claim_waits_at_most_the_maximum(redis):
    redis.set(FOREGROUND_ACTIVE_KEY, 1, px=60_000)  # foreground work that goes on and on
    assert 0.3 <= wait_while_foreground_active() < 1.0


@override_settings(STOCKHUB_FOREGROUND_FIRST=False)
def test_switched_off_nothing_is_marked_and_nobody_waits(redis):
    mark_foreground_active()
    assert not redis.exists(FOREGROUND_ACTIVE_KEY)
    redis.set(FOREGROUND_ACTIVE_KEY, 1, px=60_000)
    assert wait_while_foreground_active() < 0.05


@override_settings(REDIS_URL="redis://127.0.0.1:6391/0")  # nothing listens there
def test_with_redis_down_nobody_waits_and_nothing_fails():
    mark_foreground_active()
    assert wait_while_foreground_active() < 1.0


def test_publishing_a_foreground_job_marks_foreground_work_active(redis, clean_broker):
    background = request_fetch(
        ticker=Ticker.objects.create(symbol="BGJ"), timeframe="daily", reason=Reason.SCHEDULED
    )
    assert FetchJob.objects.get(id=background.job_id).published_at is not None
    assert not redis.exists(FOREGROUND_ACTIVE_KEY)
    request_fetch(ticker=Ticker.objects.create(symbol="FGJ"), timeframe="daily", reason=Reason.USER_REQUEST)
    assert redis.exists(FOREGROUND_ACTIVE_KEY)


@pytest.mark.slow
@pytest.mark.queues
def test_a_background_worker_starts_its_job_only_once_foreground_work_is_over(redis, workers):
    workers.start("background", env={"STOCKHUB_FOREGROUND_FIRST_MAX_WAIT_SECONDS": "30"})
    redis.set(FOREGROUND_ACTIVE_KEY, 1, px=60_000)  # a foreground worker busy for the next minute
    job_id = request_fetch(
        ticker=Ticker.objects.create(symbol="WAIT"), timeframe="daily", reason=Reason.SCHEDULED
    ).job_id
    time.sleep(2)  # the worker has the message by now, and holds back
    assert FetchJob.objects.get(id=job_id).status == JobStatus.QUEUED
    over = timezone.now()
    redis.delete(FOREGROUND_ACTIVE_KEY)
    deadline = time.monotonic() + 30
    while FetchJob.objects.get(id=job_id).status != JobStatus.SUCCEEDED and time.monotonic() < deadline:
        time.sleep(0.1)
    job = FetchJob.objects.get(id=job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.started_at >= over
