"""Admin pages and actions: every model listed, "fetch now", cancel and retry."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ingest.models import Bar, FetchJob, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import fail_job
from stockhub.queues import Queue, Reason

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client):
    client.force_login(
        get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    )
    return client


@pytest.mark.parametrize(
    "model",
    ["ingest/ticker", "ingest/universe", "ingest/bar", "ingest/fetchjob", "ingest/alertstate",
     "portfolios/portfolio", "portfolios/holding"],
)  # fmt: skip
def test_every_model_has_a_searchable_list_page(admin_client, model):
    response = admin_client.get(f"/admin/{model}/?q=AAPL")
    assert response.status_code == 200


def test_fetch_now_queues_foreground_jobs_for_the_selected_tickers(admin_client, clean_broker):
    ids = [Ticker.objects.create(symbol=s).id for s in ("AAPL", "MSFT")]
    response = admin_client.post(
        reverse("admin:ingest_ticker_changelist"),
        {"action": "fetch_daily_now", "_selected_action": ids},
        follow=True,
    )
    assert "2 jobs queued" in response.content.decode()
    jobs = FetchJob.objects.order_by("ticker__symbol")
    assert [(j.ticker.symbol, j.queue, j.priority, j.reason, j.requested_by.username) for j in jobs] == [
        ("AAPL", Queue.FOREGROUND, 2, Reason.USER_REQUEST, "root"),
        ("MSFT", Queue.FOREGROUND, 2, Reason.USER_REQUEST, "root"),
    ]


def test_fetch_now_with_the_broker_down_fetches_in_the_web_process(admin_client, switch_broker):
    switch_broker("redis://127.0.0.1:6390/0")  # nothing listens here
    ticker = Ticker.objects.create(symbol="IBM")
    response = admin_client.post(
        reverse("admin:ingest_ticker_changelist"),
        {"action": "fetch_daily_now", "_selected_action": [ticker.id]},
        follow=True,
    )
    assert "broker unreachable; 1 jobs ran directly in the web process" in response.content.decode().lower()
    assert Bar.objects.filter(ticker=ticker, timeframe="daily").exists()


def test_cancel_leaves_running_jobs_alone_and_retry_asks_again_for_ended_ones(admin_client, clean_broker):
    queued, running, failed = (
        request_fetch(
            ticker=Ticker.objects.create(symbol=s), timeframe="daily", reason=Reason.SCHEDULED
        ).job_id
        for s in ("QQQ", "RRR", "FFF")
    )
    FetchJob.objects.filter(id=running).update(status=JobStatus.RUNNING)
    fail_job(job_id=failed, code="NETWORK_TIMEOUT", message="timed out")
    changelist = reverse("admin:ingest_fetchjob_changelist")
    admin_client.post(
        changelist, {"action": "cancel_selected", "_selected_action": [queued, running, failed]}
    )
    assert dict(FetchJob.objects.values_list("id", "status")) == {
        queued: JobStatus.CANCELLED, running: JobStatus.RUNNING, failed: JobStatus.FAILED
    }  # fmt: skip
    admin_client.post(changelist, {"action": "retry_selected", "_selected_action": [queued, running, failed]})
    again = FetchJob.objects.exclude(id__in=[queued, running, failed])
    assert sorted(again.values_list("ticker__symbol", "status", "priority")) == [
        ("FFF", JobStatus.QUEUED, 5),
        ("QQQ", JobStatus.QUEUED, 5),
    ]


def test_run_pages_list_filter_and_retry_failed_symbols(admin_client):
    from ingest.models import PipelineRun, RunStatus, SymbolRunStatus, SymbolStatus
    from ingest.services.pipeline import start_pipeline_run
    from ingest.services.universes import Member, load_universe

    load_universe(slug="pair", members=[Member("AAA"), Member("BBB")])
    run_id = start_pipeline_run(universe="pair", trigger="manual", phases="import").run_id
    PipelineRun.objects.filter(id=run_id).update(status=RunStatus.COMPLETED_WITH_ERRORS)
    SymbolRunStatus.objects.filter(run_id=run_id, ticker__symbol="BBB").update(
        status=SymbolStatus.FAILED, error_code="SYMBOL_NOT_FOUND"
    )
    assert admin_client.get("/admin/ingest/pipelinerun/").status_code == 200
    page = admin_client.get(f"/admin/ingest/pipelinerun/{run_id}/change/")
    assert page.status_code == 200 and b"SYMBOL_NOT_FOUND" in page.content
    listed = admin_client.get("/admin/ingest/symbolrunstatus/?error_code=SYMBOL_NOT_FOUND&q=BBB")
    assert listed.status_code == 200 and b"BBB" in listed.content and b"AAA" not in listed.content
    admin_client.post(
        "/admin/ingest/pipelinerun/", {"action": "retry_failed_symbols", "_selected_action": [run_id]}
    )
    retry = PipelineRun.objects.get(retry_of_id=run_id)
    assert list(retry.symbols.values_list("ticker__symbol", flat=True)) == ["BBB"]


def test_queues_and_runs_are_paused_and_resumed_from_admin(admin_client, clean_broker):
    from ingest.models import PipelineRun, QueueState
    from ingest.services.pipeline import start_pipeline_run
    from ingest.services.universes import Member, load_universe

    listed = admin_client.get("/admin/ingest/queuestate/")
    assert listed.status_code == 200 and b"background" in listed.content  # every queue listed
    background = QueueState.objects.get(queue="background")
    admin_client.post(
        "/admin/ingest/queuestate/", {"action": "pause_selected", "_selected_action": [background.id]}
    )
    assert QueueState.objects.get(queue="background").paused
    page = admin_client.get("/queues/")
    assert b"paused" in page.content
    admin_client.post(
        "/admin/ingest/queuestate/", {"action": "resume_selected", "_selected_action": [background.id]}
    )
    assert not QueueState.objects.get(queue="background").paused

    load_universe(slug="pair", members=[Member("AAA"), Member("BBB")])
    run_id = start_pipeline_run(universe="pair", trigger="manual", phases="import").run_id
    admin_client.post(
        "/admin/ingest/pipelinerun/", {"action": "pause_selected", "_selected_action": [run_id]}
    )
    assert PipelineRun.objects.get(id=run_id).status == "paused"
    assert b"Resume" in admin_client.get("/pipeline/").content
    admin_client.post(
        "/admin/ingest/pipelinerun/", {"action": "resume_selected", "_selected_action": [run_id]}
    )
    assert PipelineRun.objects.get(id=run_id).status == "running"
