"""Provider rate limits: one Redis token bucket per provider, shared by every process, costing jobs no attempt.

Against the real test Redis (the broker_url fixture points REDIS_URL at its database 1). Rates are chosen so
the answer never depends on how fast this machine is: either so slow that no token refills during the test,
or with waits of at most a second.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from ingest.errors import RateLimitWait
from ingest.models import Bar, FetchJob, JobStatus, Ticker
from ingest.ratelimit import KEY_PREFIX, acquire_provider_slot
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import run_fetch_job
from ingest.tests.fake_massive import API_KEY, Answer, serving
from stockhub.errors import ErrorCode
from stockhub.queues import Reason

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def limited(settings, broker_url):
    """Set a provider's limit (per minute, burst) on a fresh bucket; returns the provider name to use."""

    def limit(per_minute: float, *, burst: int = 1, provider: str | None = None) -> str:
        provider = provider or f"test-{uuid.uuid4().hex[:8]}"
        redis.Redis.from_url(settings.REDIS_URL).delete(KEY_PREFIX + provider)
        settings.STOCKHUB_RATE_LIMITS_PER_MINUTE = {provider: per_minute}
        settings.STOCKHUB_RATE_LIMIT_BURSTS = {provider: burst}
        return provider

    return limit


def take(provider: str, times: int, *, max_wait_seconds: float = 0.0) -> list[float | RateLimitWait]:
    """Each call's seconds waited, or the RateLimitWait it raised."""
    answers: list[float | RateLimitWait] = []
    for _ in range(times):
        try:
            answers.append(acquire_provider_slot(provider=provider, max_wait_seconds=max_wait_seconds))
        except RateLimitWait as refusal:
            answers.append(refusal)
    return answers


def test_a_bucket_grants_its_burst_at_once_then_refuses_until_a_token_refills(limited):
    provider = limited(60, burst=3)  # one token a second
    first, second, third, fourth, fifth = take(provider, 5)
    assert [first, second, third] == [0.0, 0.0, 0.0]
    assert isinstance(fourth, RateLimitWait) and isinstance(fifth, RateLimitWait)
    assert (fourth.code, fourth.retryable, fourth.counts_as_attempt) == (
        ErrorCode.API_RATE_LIMIT,
        True,
        False,
    )
    assert 0 < fourth.retry_after <= 1.0
    # Refused callers are told to come back one token apart, so a backlog returns at the refill rate.
    assert fourth.retry_after + 0.5 < fifth.retry_after <= fourth.retry_after + 1.0


def test_a_slot_within_the_maximum_wait_is_slept_for_and_taken(limited):
    provider = limited(60)
    assert take(provider, 1) == [0.0]
    [waited] = take(provider, 1, max_wait_seconds=2.0)
    assert 0 < waited <= 1.0
    # The slept-for token was reserved when asked for, so it is not free again now: the next is a second away.
    [refusal] = take(provider, 1)
    assert isinstance(refusal, RateLimitWait) and 0.5 < refusal.retry_after <= 1.0


def test_an_unlisted_provider_is_not_limited(limited):
    limited(1)
    assert take("synthetic", 20) == [0.0] * 20


def test_processes_share_one_bucket(limited):
    """Two real processes draw on the same bucket: together they get its five tokens, not five each."""
    provider = limited(1, burst=5)  # a token a minute: none refills while the processes start
    code = (
        "import django; django.setup()\n"
        "from ingest.tests.test_rate_limits import take\n"
        f"print(sum(1 for answer in take({provider!r}, 5) if answer == 0.0))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "stockhub.settings",
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "REDIS_URL": django_settings.REDIS_URL,
        "STOCKHUB_RATE_LIMITS_PER_MINUTE": f"{provider}=1",
        "STOCKHUB_RATE_LIMIT_BURSTS": f"{provider}=5",
    }
    processes = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    granted = [int(process.communicate(timeout=60)[0].strip()) for process in processes]
    assert sum(granted) == 5
    assert isinstance(take(provider, 1)[0], RateLimitWait)


def test_with_redis_down_the_request_goes_ahead_with_a_warning(limited, settings, caplog):
    provider = limited(1)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="ingest.ratelimit"):
        assert take(provider, 3) == [0.0, 0.0, 0.0]
    assert "rate limit not applied" in caplog.text and provider in caplog.text


@pytest.mark.django_db
def test_a_job_refused_by_our_limiter_is_queued_again_without_using_an_attempt(limited, clean_broker):
    limited(1, provider="synthetic")  # one fetch a minute
    first, second = (
        request_fetch(
            ticker=Ticker.objects.create(symbol=symbol),
            timeframe="daily",
            reason=Reason.SCHEDULED,
            params={"provider": "synthetic"},
            publish=False,
        ).job_id
        for symbol in ("AAPL", "MSFT")
    )
    run_fetch_job(job_id=first, token=0)
    assert FetchJob.objects.get(id=first).status == JobStatus.SUCCEEDED
    # More refusals than the job has attempts: none of them counts, none fails the job.
    for _ in range(django_settings.STOCKHUB_JOB_MAX_ATTEMPTS + 1):
        run_fetch_job(job_id=second, token=FetchJob.objects.get(id=second).dispatch_token)
    job = FetchJob.objects.get(id=second)
    assert (job.status, job.attempts, job.error_code) == (JobStatus.QUEUED, 0, ErrorCode.API_RATE_LIMIT)
    assert job.not_before > timezone.now() + timedelta(seconds=50)  # the next token, a minute after the first
    assert not Bar.objects.filter(ticker=job.ticker).exists()


@pytest.mark.django_db
def test_a_providers_own_429_uses_an_attempt_and_waits_its_retry_after(limited, clean_broker, settings):
    limited(0, provider="massive")  # our limiter out of the way: only Massive's answer counts here
    with serving() as massive:
        massive.answer = lambda path, query: Answer(429, "massive_429.json", headers={"Retry-After": "30"})
        settings.MASSIVE_BASE_URL, settings.MASSIVE_API_KEY = massive.url, API_KEY
        job_id = request_fetch(
            ticker=Ticker.objects.create(symbol="AAPL"),
            timeframe="daily",
            reason=Reason.SCHEDULED,
            params={"provider": "massive"},
            publish=False,
        ).job_id
        run_fetch_job(job_id=job_id, token=0)
    job = FetchJob.objects.get(id=job_id)
    assert (job.status, job.attempts, job.error_code) == (JobStatus.QUEUED, 1, ErrorCode.API_RATE_LIMIT)
    assert job.not_before >= timezone.now() + timedelta(seconds=29)


@pytest.mark.django_db
def test_fetch_sync_waits_for_its_turn_instead_of_failing_a_symbol(limited, capsys):
    limited(60, provider="synthetic")  # the second symbol waits about a second
    call_command("fetch", "AAPL", "MSFT", "--sync", "--provider", "synthetic")
    assert capsys.readouterr().out.count("new,") == 2
