"""GET /metrics: Prometheus text read at scrape time from the job rows, the bars and the real broker."""

from __future__ import annotations

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from ingest.models import Bar, FetchJob, JobKind, JobStatus, Ticker, Timeframe
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import fail_job, run_fetch_job
from ingest.tests.fake_massive import API_KEY, Answer, serving
from stockhub.errors import ErrorCode
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, parsed by prometheus_client's own text parser."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_count_the_jobs_the_broker_and_the_bars_as_they_are(client, clean_broker):
    jobs = [
        request_fetch(
            ticker=Ticker.objects.create(symbol=f"M{i}"), timeframe="daily", reason=Reason.SCHEDULED
        )
        for i in range(4)
    ]
    done = FetchJob.objects.get(id=jobs[0].job_id)
    run_fetch_job(job_id=done.id, token=done.dispatch_token)  # synthetic provider: stores bars, asks analysis
    fail_job(job_id=jobs[1].job_id, code=ErrorCode.SYMBOL_NOT_FOUND, message="no such symbol")

    samples = scrape(client)

    background = {"queue": "background", "kind": JobKind.FETCH_BARS}
    assert value(samples, "stockhub_jobs", status="queued", **background) == 2
    assert value(samples, "stockhub_jobs", status="succeeded", **background) == 1
    assert value(samples, "stockhub_jobs", status="failed", **background) == 1
    analysis_jobs = FetchJob.objects.filter(kind=JobKind.COMPUTE_INDICATORS, status=JobStatus.QUEUED).count()
    assert analysis_jobs == 1  # one for the ticker: its daily bars and the weekly and monthly derived
    assert (
        value(samples, "stockhub_jobs", queue="analysis", status="queued", kind=JobKind.COMPUTE_INDICATORS)
        == analysis_jobs
    )
    # Every job message sent is still waiting: no worker runs in this test.
    assert value(samples, "stockhub_broker_up") == 1
    assert value(samples, "stockhub_queue_depth", queue="background") == 4
    assert value(samples, "stockhub_queue_depth", queue="analysis") == analysis_jobs
    assert value(samples, "stockhub_queue_depth", queue="foreground") == 0
    # Only the job that ran has a start, so only it has a wait and a run time.
    assert value(samples, "stockhub_job_wait_seconds_count", queue="background") == 1
    assert value(samples, "stockhub_job_run_seconds_count", queue="background") == 1
    assert value(samples, "stockhub_job_run_seconds_bucket", queue="background", le="+Inf") == 1
    assert value(samples, "stockhub_job_run_seconds_count", queue="foreground") == 0
    assert (
        value(samples, "stockhub_jobs_failed_last_24h", queue="background", code=ErrorCode.SYMBOL_NOT_FOUND)
        == 1
    )
    for timeframe in Timeframe:
        stored = Bar.objects.filter(timeframe=timeframe).count()
        assert value(samples, "stockhub_bars_stored", timeframe=timeframe) == (stored or None)
    assert Bar.objects.filter(timeframe=Timeframe.DAILY).exists()


def test_a_job_waiting_to_retry_is_counted_by_its_error_code(client, clean_broker):
    job_id = request_fetch(
        ticker=Ticker.objects.create(symbol="AAPL"), timeframe="daily", reason=Reason.SCHEDULED
    ).job_id
    job = FetchJob.objects.get(id=job_id)
    with serving() as massive, override_settings(MASSIVE_BASE_URL=massive.url, MASSIVE_API_KEY=API_KEY):
        massive.answer = lambda path, query: Answer(429, "massive_429.json", headers={"Retry-After": "60"})
        FetchJob.objects.filter(id=job_id).update(params={"provider": "massive"})
        run_fetch_job(job_id=job_id, token=job.dispatch_token)
    assert FetchJob.objects.get(id=job_id).status == JobStatus.QUEUED  # waiting for its retry

    samples = scrape(client)

    assert value(samples, "stockhub_jobs_retrying", queue="background", code=ErrorCode.API_RATE_LIMIT) == 1


def test_metrics_show_the_broker_down_instead_of_failing(client, switch_broker):
    switch_broker("redis://127.0.0.1:6390/0")  # nothing listens here

    samples = scrape(client)

    assert value(samples, "stockhub_broker_up") == 0
    assert not [key for key in samples if key[0] == "stockhub_queue_depth"]


@override_settings(STOCKHUB_METRICS_TOKEN="s3cret")
def test_with_a_token_set_metrics_want_it_as_a_bearer_token(client, clean_broker):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "stockhub_broker_up" in {name for name, _ in scrape(client, HTTP_AUTHORIZATION="Bearer s3cret")}


def test_metrics_show_the_progress_of_active_runs_and_of_the_latest_finished_one(client):
    from datetime import date, timedelta

    from django.utils import timezone

    from ingest.models import (
        Phase,
        PipelineRun,
        RunStatus,
        RunTrigger,
        SymbolRunStatus,
        SymbolStatus,
        Universe,
    )

    universe = Universe.objects.create(slug="metrics-tiny", name="Tiny")
    now = timezone.now()

    def make_run(status: str, statuses: list[str], *, finished_minutes_ago: int | None = None):
        run = PipelineRun.objects.create(
            universe=universe,
            timeframe=Timeframe.DAILY,
            phases=[Phase.IMPORT, Phase.INDICATORS],
            trigger=RunTrigger.MANUAL,
            status=status,
            session_date=date(2026, 1, 5),
            current_phase=Phase.INDICATORS,
            started_at=now - timedelta(hours=1),
            finished_at=None
            if finished_minutes_ago is None
            else now - timedelta(minutes=finished_minutes_ago),
        )
        for i, symbol_status in enumerate(statuses):
            ticker, _ = Ticker.objects.get_or_create(symbol=f"P{i}")
            SymbolRunStatus.objects.create(
                run=run, ticker=ticker, phase=Phase.INDICATORS, status=symbol_status
            )
        return run

    older = make_run(RunStatus.COMPLETED, [SymbolStatus.DONE] * 2, finished_minutes_ago=30)
    latest = make_run(
        RunStatus.COMPLETED_WITH_ERRORS, [SymbolStatus.DONE, SymbolStatus.FAILED], finished_minutes_ago=5
    )
    # One done, one failed (both count as through), two halfway (indicators is phase 2 of 2): 6 of 8 steps.
    active = make_run(
        RunStatus.PAUSED,
        [SymbolStatus.DONE, SymbolStatus.FAILED, SymbolStatus.QUEUED, SymbolStatus.RUNNING],
    )

    samples = scrape(client)

    labels = {"universe": "metrics-tiny", "timeframe": "daily", "phase": "indicators"}
    assert value(samples, "stockhub_pipeline_run_percent", run_id=str(active.id), **labels) == 75.0
    assert value(samples, "stockhub_pipeline_run_percent", run_id=str(latest.id), **labels) == 100.0
    assert value(samples, "stockhub_pipeline_run_percent", run_id=str(older.id), **labels) is None
    assert {
        status: value(samples, "stockhub_pipeline_symbols", run_id=str(active.id), status=status)
        for status in SymbolStatus
    } == {"pending": 0, "queued": 1, "running": 1, "done": 1, "failed": 1, "cancelled": 0}
    assert value(samples, "stockhub_pipeline_symbols", run_id=str(latest.id), status="failed") == 1
    assert value(samples, "stockhub_pipeline_symbols", run_id=str(older.id), status="done") is None
