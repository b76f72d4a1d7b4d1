"""Queue behaviour with real `celery worker -Q ...` processes, the real broker and the real database."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from analysis.models import IndicatorRow
from ingest.models import Bar, FetchJob, JobKind, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from ingest.services.reconcile import reconcile_jobs
from portfolios.services import refresh_on_login
from portfolios.tests.factories import make_portfolio
from stockhub.queues import Reason

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.queues]

SLOW_PROVIDER = {"STOCKHUB_SYNTHETIC_LATENCY_MS": "40"}


def tickers(prefix: str, count: int) -> list[Ticker]:
    return [Ticker.objects.create(symbol=f"{prefix}{i:03d}") for i in range(count)]


def wait_until(condition, *, seconds: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def all_ended(job_ids: list[int]) -> bool:
    return not FetchJob.objects.filter(
        id__in=job_ids, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).exists()


def test_foreground_jobs_start_before_a_background_backlog(workers):
    workers.start("background", env=SLOW_PROVIDER)
    workers.start("foreground", env=SLOW_PROVIDER)
    backlog = [
        request_fetch(ticker=t, timeframe="daily", reason=Reason.SCHEDULED).job_id for t in tickers("BG", 150)
    ]
    wait_until(
        lambda: FetchJob.objects.filter(id__in=backlog, started_at__isnull=False).count() >= 3,
        what="the background worker to start on the backlog",
    )
    urgent = [
        request_fetch(ticker=t, timeframe="daily", reason=Reason.USER_REQUEST).job_id
        for t in tickers("FG", 5)
    ]
    wait_until(lambda: all_ended(urgent), seconds=60, what="the foreground jobs")
    assert set(FetchJob.objects.filter(id__in=urgent).values_list("status", flat=True)) == {
        JobStatus.SUCCEEDED
    }
    last_urgent_done = max(FetchJob.objects.filter(id__in=urgent).values_list("finished_at", flat=True))
    still_waiting = FetchJob.objects.filter(id__in=backlog).exclude(started_at__lt=last_urgent_done).count()
    assert still_waiting >= 100, f"only {still_waiting} background jobs were still waiting"


def test_within_a_queue_a_higher_priority_starts_first(workers):
    jobs = []
    for i, ticker in enumerate(tickers("PR", 30)):
        priority = (6, 5, 4)[i % 3]
        jobs.append(
            request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED, priority=priority).job_id
        )
    workers.start("background")  # starts only now, so every message is waiting when it begins
    wait_until(lambda: all_ended(jobs), what="all jobs")
    order = list(
        FetchJob.objects.filter(id__in=jobs).order_by("started_at").values_list("priority", flat=True)
    )
    assert order == sorted(order), f"start order by priority: {order}"


def test_jobs_lost_with_the_broker_are_republished_and_run_once(workers, clean_broker):
    from celery_app import app

    jobs = [
        request_fetch(ticker=t, timeframe="daily", reason=Reason.SCHEDULED).job_id for t in tickers("FL", 20)
    ]
    with app.connection_for_write() as connection:  # the broker loses everything, like a Redis restart
        channel = connection.default_channel
        if hasattr(channel, "client"):
            channel.client.flushdb()
        else:
            channel.queue_purge("background")
    FetchJob.objects.filter(id__in=jobs).update(published_at=timezone.now() - timedelta(minutes=10))
    result = reconcile_jobs()
    assert result.republished == 20
    workers.start("background")
    wait_until(lambda: all_ended(jobs), what="republished jobs")
    assert set(FetchJob.objects.filter(id__in=jobs).values_list("status", "attempts")) == {
        (JobStatus.SUCCEEDED, 1)
    }


def test_a_job_whose_row_is_locked_by_a_request_when_its_message_arrives_still_runs(workers):
    """A second request for a queued job locks its row for a moment (dedup, priority raise). A worker whose
    claim meets that lock must wait for it, not take the lock for another worker's and drop the message."""
    from django.db import transaction

    from ingest.services.job_requests import publish_jobs

    workers.start("foreground")
    (ticker,) = tickers("LK", 1)
    job_id = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.USER_REQUEST, publish=False).job_id
    with transaction.atomic():
        FetchJob.objects.select_for_update().get(id=job_id)  # as request_jobs' read of the active jobs does
        assert publish_jobs(job_ids=[job_id]) == [job_id]  # the message goes out while the row is locked
        time.sleep(1.0)  # the worker has the message and meets the lock
    wait_until(lambda: all_ended([job_id]), seconds=30, what="the job whose claim met a lock")
    job = FetchJob.objects.get(id=job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)


def test_a_job_whose_worker_process_is_killed_is_run_again_and_completes_once(workers):
    worker = workers.start("background", env={"STOCKHUB_SYNTHETIC_LATENCY_MS": "3000"})
    (ticker,) = tickers("KL", 1)
    job_id = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED).job_id
    wait_until(lambda: FetchJob.objects.get(id=job_id).status == JobStatus.RUNNING, what="the job to start")
    pid = int(FetchJob.objects.get(id=job_id).claimed_by.rpartition(":")[2])
    assert pid != worker.pid  # the pool process, not the supervisor
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: all_ended([job_id]), what="the job to finish after the kill")
    job = FetchJob.objects.get(id=job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert job.rows_stored > 0


def test_a_user_never_has_more_than_three_foreground_jobs_running(workers):
    workers.start("foreground", concurrency=6, env={"STOCKHUB_SYNTHETIC_LATENCY_MS": "600"})
    portfolio = make_portfolio(symbols=[f"U{i}" for i in range(7)])
    with override_settings(STOCKHUB_FOREGROUND_JOBS_PER_USER=3):
        jobs = refresh_on_login(user=portfolio.owner)
    assert len(jobs) == 7
    wait_until(lambda: all_ended(jobs), seconds=90, what="the user's jobs")
    spans = list(FetchJob.objects.filter(id__in=jobs).values_list("started_at", "finished_at", "status"))
    assert {status for _, _, status in spans} == {JobStatus.SUCCEEDED}
    most_at_once = max(sum(1 for s, f, _ in spans if s <= moment < f) for moment, _, _ in spans)
    assert most_at_once == 3


def test_jobs_recorded_while_the_broker_was_down_run_once_it_is_back(
    workers, client, switch_broker, broker_url
):
    portfolio = make_portfolio(symbols=["DN1", "DN2"])
    switch_broker("redis://127.0.0.1:6390/0")  # nothing listens here
    assert client.login(username=portfolio.owner.username, password="pw-for-tests-only")
    switch_broker(broker_url)
    jobs = list(FetchJob.objects.values_list("id", flat=True))
    assert len(jobs) == 2 and not FetchJob.objects.filter(published_at__isnull=False).exists()
    workers.start("foreground")
    assert reconcile_jobs().republished == 2
    wait_until(lambda: all_ended(jobs), what="the jobs after the broker came back")
    assert set(FetchJob.objects.filter(id__in=jobs).values_list("status", flat=True)) == {JobStatus.SUCCEEDED}


def test_a_fetch_with_new_bars_is_followed_by_its_analysis_on_the_analysis_worker(workers):
    workers.start("background")
    workers.start("analysis")
    (ticker,) = tickers("AN", 1)
    fetch = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED).job_id
    wait_until(lambda: FetchJob.objects.filter(kind=JobKind.COMPUTE_INDICATORS, ticker=ticker).exists()
               and all_ended(list(FetchJob.objects.filter(ticker=ticker).values_list("id", flat=True))),
               what="the fetch and its analysis")  # fmt: skip
    analysis = FetchJob.objects.get(kind=JobKind.COMPUTE_INDICATORS, ticker=ticker)
    assert analysis.timeframe == "daily" and analysis.params == {"timeframes": ["daily", "weekly", "monthly"]}
    for timeframe in ("weekly", "monthly"):  # the bars derived from the new daily bars are analysed too
        stored = Bar.objects.filter(ticker=ticker, timeframe=timeframe).count()
        assert IndicatorRow.objects.filter(ticker=ticker, timeframe=timeframe).count() == stored > 0
    assert FetchJob.objects.get(id=fetch).status == JobStatus.SUCCEEDED
    assert (analysis.queue, analysis.priority, analysis.status) == ("analysis", 8, JobStatus.SUCCEEDED)
    bars = Bar.objects.filter(ticker=ticker, timeframe=analysis.timeframe).count()
    assert IndicatorRow.objects.filter(ticker=ticker, timeframe="daily").count() == bars
    assert analysis.rows_stored == IndicatorRow.objects.filter(ticker=ticker).count()
    newest = IndicatorRow.objects.filter(ticker=ticker, timeframe="daily").order_by("-ts").first()
    assert newest.sma_20 is not None and newest.rsi_14 is not None and 0 <= newest.rsi_14 <= 100
