"""Adding a ticker runs its whole pipeline in the foreground, phase by phase, with a real worker."""

from __future__ import annotations

import ipaddress
import json

import pytest
from django.test import override_settings

from analysis.models import IndicatorRow
from ingest.models import Bar, FetchJob, JobStatus
from ingest.services.ticker_queue import PHASES
from ingest.tests.test_pipeline_run import Subscriber
from ingest.tests.test_queue_workers import wait_until
from notifications.models import WebhookDelivery
from notifications.services import create_webhook
from portfolios.tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def add(client, symbol: str):
    return client.post(
        "/api/ticker-queue/add", json.dumps({"symbol": symbol}), content_type="application/json"
    )


def ended(job_id: int) -> bool:
    return FetchJob.objects.get(id=job_id).status not in (JobStatus.QUEUED, JobStatus.RUNNING)


@override_settings(STOCKHUB_WEBHOOK_ALLOWED_NETWORKS=[ipaddress.ip_network("127.0.0.1/32")])
def test_an_added_ticker_goes_through_every_phase_and_reports_each(client, workers):
    bob = make_user("bob")
    client.force_login(bob)
    create_webhook(owner=bob, url="http://127.0.0.1:9/hook", events=["ticker.completed", "ticker.failed"])
    workers.start("foreground")
    subscriber = Subscriber(patterns=["stockhub:ticker:*"])
    response = add(client, "nvda")
    assert response.status_code == 202
    entry = response.json()
    assert (entry["symbol"], entry["kind"], entry["queue"], entry["priority"]) == (
        "NVDA",
        "add_ticker",
        "foreground",
        3,
    )
    assert add(client, "NVDA").json()["id"] == entry["id"]  # asking again joins the queued entry
    wait_until(lambda: ended(entry["id"]), seconds=120, what="the ticker's pipeline")
    events = subscriber.close()

    job = FetchJob.objects.get(id=entry["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert (job.progress["phase"], job.progress["phase_number"], job.progress["percent"]) == (
        "done",
        len(PHASES),
        100.0,
    )
    for timeframe in ("hourly", "daily", "weekly", "monthly"):
        bars = Bar.objects.filter(ticker__symbol="NVDA", timeframe=timeframe).count()
        assert (
            bars and IndicatorRow.objects.filter(ticker__symbol="NVDA", timeframe=timeframe).count() == bars
        )
    progress = [body["payload"]["phase"] for channel, body in events if channel == "stockhub:ticker:progress"]
    assert progress == list(PHASES)
    assert events[-1][0] == "stockhub:ticker:completed"
    status = client.get("/api/ticker-queue/status").json()
    assert [(e["symbol"], e["status"]) for e in status] == [("NVDA", "succeeded")]
    assert client.get("/api/ticker-queue/progress").json() == []
    # bob's webhook hears of it (delivery itself is the notifications app's business, tested there)
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "ticker.completed" and json.loads(delivery.body)["payload"]["symbol"] == "NVDA"


def test_an_unknown_ticker_fails_with_its_phase_and_code_and_can_be_retried(client, workers):
    client.force_login(make_user("bob"))
    workers.start("foreground")
    job_id = add(client, "ZZZQ").json()["id"]  # the synthetic provider knows no ZZZ* symbol
    wait_until(lambda: ended(job_id), seconds=60, what="the failing ticker")
    job = FetchJob.objects.get(id=job_id)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "SYMBOL_NOT_FOUND")
    assert job.error_message.startswith("fetch daily:")
    assert client.post("/api/ticker-queue/cancel/ZZZQ").status_code == 404  # nothing queued to cancel
    retried = client.post("/api/ticker-queue/retry/ZZZQ")
    assert retried.status_code == 202 and retried.json()[0]["id"] != job_id
    assert client.post("/api/ticker-queue/retry/MSFT").status_code == 404  # never added


@pytest.mark.parametrize(
    "symbol", ["", "TOO-LONG-SYMBOL", "../../etc", "AAPL'; DROP TABLE ingest_bar;--", "a b"]
)
def test_a_bad_symbol_is_refused_before_anything_is_queued(client, symbol):
    client.force_login(make_user("bob"))
    response = add(client, symbol)
    assert response.status_code == 400
    assert "symbol" in response.json()["error"]
    assert not FetchJob.objects.exists()


def test_another_users_entries_are_not_listed_or_cancellable(client, clean_broker):
    owner = make_user("alice")
    client.force_login(owner)
    add(client, "AMD")
    client.force_login(make_user("bob"))
    assert client.get("/api/ticker-queue/status").json() == []
    assert client.post("/api/ticker-queue/cancel/AMD").status_code == 404
    client.force_login(owner)
    assert client.post("/api/ticker-queue/cancel/AMD").json() == {"cancelled": 1}
