"""Retry classes end to end: a real worker fetching from a real HTTP server that answers like Massive.

Transient errors (rate limit, timeout) are retried with backoff (a rate limit no sooner than Retry-After);
permanent ones (bad key, unknown symbol) fail at once with their code on the job.
"""

from __future__ import annotations

import time

import pytest

from ingest.models import Bar, FetchJob, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from ingest.tests.fake_massive import API_KEY, Answer, recorded_aapl, serving
from stockhub.errors import ErrorCode
from stockhub.queues import Reason

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

JANUARY = {"start": "2024-01-02T00:00:00+00:00", "end": "2024-01-12T00:00:00+00:00"}


@pytest.fixture
def massive():
    with serving() as server:
        yield server


def start_worker(workers, server) -> None:
    workers.start(
        "background",
        env={
            "STOCKHUB_PROVIDER": "massive",
            "MASSIVE_BASE_URL": server.url,
            "MASSIVE_API_KEY": API_KEY,
            "STOCKHUB_PROVIDER_TIMEOUT_SECONDS": "0.5",
            "STOCKHUB_RETRY_BASE_SECONDS": "0.2",
            "STOCKHUB_RETRY_MAX_SECONDS": "0.5",
            "STOCKHUB_JOB_MAX_ATTEMPTS": "3",
            "STOCKHUB_RATE_LIMITS_PER_MINUTE": "massive=0",  # only Massive's own answers limit these tests
        },
    )


def run_to_the_end(symbol: str) -> FetchJob:
    ticker = Ticker.objects.create(symbol=symbol)
    job_id = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED, params=JANUARY).job_id
    deadline = time.monotonic() + 60
    while FetchJob.objects.get(id=job_id).status in (JobStatus.QUEUED, JobStatus.RUNNING):
        assert time.monotonic() < deadline, "the job did not end within 60 s"
        time.sleep(0.1)
    return FetchJob.objects.get(id=job_id)


def aggregate_requests(server) -> list[float]:
    return [
        t
        for (path, _), t in zip(server.requests, server.request_times, strict=True)
        if path.startswith("/v2/aggs")
    ]


def test_a_rate_limited_job_waits_for_retry_after_then_succeeds(workers, massive):
    refusals = iter(range(2))

    def answer(path, query):
        if path.startswith("/v2/aggs") and next(refusals, None) is not None:
            return Answer(429, "massive_429.json", headers={"Retry-After": "1"})
        return recorded_aapl(path, query)

    massive.answer = answer
    start_worker(workers, massive)
    job = run_to_the_end("AAPL")
    assert (job.status, job.attempts, job.error_code) == (JobStatus.SUCCEEDED, 3, "")
    assert job.rows_stored == Bar.objects.filter(ticker__symbol="AAPL", timeframe="daily").count() == 9
    times = aggregate_requests(massive)
    # two refusals, then the first page and the next_url page
    assert len(times) == 4
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0, "Retry-After: 1 was not honoured"


def test_timeouts_are_retried_until_the_attempts_run_out(workers, massive):
    massive.answer = lambda path, query: Answer(200, "massive_aggs_empty.json", delay_seconds=2.0)
    start_worker(workers, massive)
    job = run_to_the_end("AAPL")
    assert (job.status, job.attempts, job.error_code) == (JobStatus.FAILED, 3, ErrorCode.NETWORK_TIMEOUT)
    assert len(aggregate_requests(massive)) == 3


def test_a_rejected_api_key_fails_at_once(workers, massive):
    massive.answer = lambda path, query: Answer(401, "massive_401.json")
    start_worker(workers, massive)
    job = run_to_the_end("AAPL")
    assert (job.status, job.attempts, job.error_code) == (JobStatus.FAILED, 1, ErrorCode.API_KEY_INVALID)
    assert len(aggregate_requests(massive)) == 1


def test_an_unknown_symbol_fails_at_once_with_its_code(workers, massive):
    start_worker(workers, massive)  # recorded answers: no bars for ZZZQ, and the reference lookup says 404
    job = run_to_the_end("ZZZQ")
    assert (job.status, job.attempts, job.error_code) == (JobStatus.FAILED, 1, ErrorCode.SYMBOL_NOT_FOUND)
    assert "ZZZQ" in job.error_message
