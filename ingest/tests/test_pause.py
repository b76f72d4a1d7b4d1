"""Pausing and resuming queues and runs with real workers: nothing new starts, nothing is lost."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.utils import timezone

from ingest.broker import queue_depths
from ingest.models import Bar, FetchJob, JobStatus, PipelineRun, RunStatus, SymbolRunStatus, Ticker
from ingest.services.control import pause_queue, pause_run, resume_queue, resume_run
from ingest.services.job_requests import request_fetch
from ingest.services.pipeline import start_pipeline_run
from ingest.tests.test_pipeline_run import make_universe, market_csv, worker_env  # noqa: F401  (fixture)
from ingest.tests.test_queue_workers import all_ended, wait_until
from portfolios.tests.factories import make_user
from stockhub.queues import Reason

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.queues]

SLOW = {"STOCKHUB_SYNTHETIC_LATENCY_MS": "400"}


def request(symbol: str, priority: int) -> int:
    ticker = Ticker.objects.create(symbol=symbol)
    return request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED, priority=priority).job_id


def test_a_paused_queue_starts_nothing_new_and_resumes_in_priority_order(workers):
    workers.start("background", env=SLOW)
    running = request("RUN", 5)
    wait_until(
        lambda: FetchJob.objects.get(id=running).status == JobStatus.RUNNING, what="the first job to start"
    )
    pause_queue(queue="background", reason="test")
    paused_at = timezone.now()
    waiting = {request(f"W{p}{i}", p): p for i in range(3) for p in (6, 4, 5)}
    wait_until(lambda: FetchJob.objects.get(id=running).status == JobStatus.SUCCEEDED, what="the running job")
    wait_until(
        lambda: queue_depths()["background"] >= len(waiting) - 1, what="messages to wait in the broker"
    )
    # Two seconds in which an unpaused worker would have run four or five of them.
    deadline = timezone.now() + timezone.timedelta(seconds=2)
    while timezone.now() < deadline:
        assert not FetchJob.objects.filter(id__in=waiting, started_at__gte=paused_at).exists()
    assert set(FetchJob.objects.filter(id__in=waiting).values_list("status", flat=True)) == {JobStatus.QUEUED}

    resume_queue(queue="background")
    wait_until(lambda: all_ended(list(waiting)), seconds=60, what="the waiting jobs")
    jobs = FetchJob.objects.filter(id__in=waiting).order_by("started_at")
    assert {job.status for job in jobs} == {JobStatus.SUCCEEDED}
    assert all(job.attempts == 1 for job in jobs)  # each ran once
    order = [waiting[job.id] for job in jobs]
    # Broker priorities order the resumed queue: every priority-4 job starts before any priority-6 one. (Not
    # a strict sort: the pause reaches a worker asynchronously, and a message it took in that instant is
    # parked and sent again, which can put one job behind others of a lower priority.)
    assert max(i for i, p in enumerate(order) if p == 4) < min(i for i, p in enumerate(order) if p == 6), (
        order
    )


def test_a_pause_survives_a_worker_restart(workers):
    pause_queue(queue="background")
    job_id = request("KEEP", 5)
    workers.start("background")  # started while paused: must not consume
    deadline = timezone.now() + timezone.timedelta(seconds=2)
    while timezone.now() < deadline:
        assert FetchJob.objects.get(id=job_id).status == JobStatus.QUEUED
    resume_queue(queue="background")
    wait_until(lambda: all_ended([job_id]), what="the job after resume")
    assert FetchJob.objects.get(id=job_id).status == JobStatus.SUCCEEDED


def test_a_paused_run_holds_its_symbols_and_resumes_to_exact_bars(workers, market_csv):  # noqa: F811
    csv_path, frame = market_csv
    universe = make_universe(frame)
    workers.start("background", env={**worker_env(csv_path), "STOCKHUB_SYNTHETIC_LATENCY_MS": "0"})
    workers.start("analysis", env=worker_env(csv_path))
    run_id = start_pipeline_run(universe=universe, trigger="manual").run_id
    wait_until(
        lambda: FetchJob.objects.filter(run_symbols__run_id=run_id, status=JobStatus.SUCCEEDED).count() >= 5,
        what="a few imports",
    )
    pause_run(run_id=run_id)
    paused_at = timezone.now()
    wait_until(
        lambda: not FetchJob.objects.filter(run_symbols__run_id=run_id, status=JobStatus.RUNNING).exists(),
        what="running imports to finish",
    )
    done_at_pause = FetchJob.objects.filter(run_symbols__run_id=run_id, status=JobStatus.SUCCEEDED).count()
    deadline = timezone.now() + timezone.timedelta(seconds=2)
    while timezone.now() < deadline:
        assert not FetchJob.objects.filter(run_symbols__run_id=run_id, started_at__gt=paused_at).exists()
    assert done_at_pause < len(set(frame["symbol"]))
    assert PipelineRun.objects.get(id=run_id).status == RunStatus.PAUSED

    resume_run(run_id=run_id)
    wait_until(
        lambda: PipelineRun.objects.get(id=run_id).status not in (RunStatus.RUNNING, RunStatus.PAUSED),
        seconds=180,
        what="the resumed run to end",
    )
    assert PipelineRun.objects.get(id=run_id).status == RunStatus.COMPLETED
    assert PipelineRun.objects.count() == 1
    assert set(SymbolRunStatus.objects.filter(run_id=run_id).values_list("status", flat=True)) == {"done"}
    stored = dict(Bar.objects.filter(timeframe="daily").values_list("ticker__symbol").annotate(n=Count("id")))
    assert stored == frame.groupby("symbol").size().to_dict()
    assert FetchJob.objects.filter(run_symbols__run_id=run_id).exclude(attempts=1).count() == 0


def test_queue_control_command_and_api_check_their_input(client, clean_broker):
    with pytest.raises(CommandError, match="unknown queue"):
        call_command("queue_control", "pause", "nightly")
    with pytest.raises(CommandError, match="one of the two"):
        call_command("queue_control", "pause")
    call_command("queue_control", "pause", "analysis", "--reason", "maintenance")
    client.force_login(make_user("root", staff=True))
    stats = client.get("/api/queues/stats").json()
    assert {q["queue"]: q["paused"] for q in stats["queues"]} == {
        "foreground": False,
        "background": False,
        "analysis": True,
    }
    assert client.post("/api/queues/nightly/pause").status_code == 404
    resumed = client.post("/api/queues/analysis/resume").json()
    assert resumed["paused"] is False
    assert client.post("/api/processing/pause/999").status_code == 404
    client.force_login(make_user("bob"))
    assert client.post("/api/queues/analysis/pause").status_code == 403
    assert client.post("/api/processing/resume/1").status_code == 403


def test_a_scheduled_run_due_while_its_queue_is_paused_starts_once_when_it_resumes(workers, market_csv):  # noqa: F811
    from datetime import UTC, datetime

    from ingest.services.schedule import start_scheduled_run

    csv_path, frame = market_csv
    universe = make_universe(frame)
    workers.start("background", env=worker_env(csv_path))
    workers.start("analysis", env=worker_env(csv_path))
    pause_queue(queue="background", reason="provider maintenance")
    after_close = datetime(2026, 11, 25, 21, 10, tzinfo=UTC)
    ticks = [start_scheduled_run(universe=universe, now=after_close.replace(minute=m)) for m in (10, 11, 12)]
    assert [tick.started for tick in ticks] == [True, False, False]  # beat ticks again: still one run
    run_id = ticks[0].run_id
    deadline = timezone.now() + timezone.timedelta(seconds=2)
    while timezone.now() < deadline:
        assert not FetchJob.objects.filter(run_symbols__run_id=run_id, started_at__isnull=False).exists()

    resume_queue(queue="background")
    wait_until(
        lambda: PipelineRun.objects.get(id=run_id).status == RunStatus.COMPLETED, seconds=180, what="the run"
    )
    assert PipelineRun.objects.count() == 1
    stored = dict(Bar.objects.filter(timeframe="daily").values_list("ticker__symbol").annotate(n=Count("id")))
    assert stored == frame.groupby("symbol").size().to_dict()
