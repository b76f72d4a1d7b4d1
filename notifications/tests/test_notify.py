"""notify() records deliveries for the hooks that want an event; analysis and the queue monitor call it."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.test import override_settings

from analysis.services import detect_patterns
from analysis.tests.factories import random_walk, store
from ingest.models import Ticker
from ingest.monitoring import queue_report
from ingest.services.job_requests import request_fetch
from notifications.models import WebhookDelivery
from notifications.services import notify
from notifications.tests.factories import make_hook
from portfolios.tests.factories import make_portfolio, make_user
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)

URL = "http://127.0.0.1:9/hook"  # never called here: these tests stop at the recorded delivery


def payloads(**filters) -> list[dict]:
    return [json.loads(d.body)["payload"] for d in WebhookDelivery.objects.filter(**filters).order_by("id")]


def test_with_nobody_subscribed_notify_costs_one_query(django_assert_num_queries):
    make_hook(url=URL, events=["ticker.failed"])
    with django_assert_num_queries(1):
        assert notify(event="run.completed", payload={"run_id": 1}).delivery_ids == []


def test_run_level_events_go_to_staff_hooks_only(clean_broker):
    staff = make_hook(url=URL, events=["run.completed"])
    make_hook(url=URL, events=["run.completed"], staff=False)  # stored past the API's check, still ignored
    make_hook(url=URL, events=["run.failed"])
    result = notify(event="run.completed", payload={"run_id": 1})
    assert list(WebhookDelivery.objects.values_list("webhook_id", flat=True)) == [staff.id]
    assert result.delivery_ids == [WebhookDelivery.objects.get().id]


def test_user_events_go_to_the_hooks_of_the_users_named(clean_broker):
    alice = make_hook(url=URL, events=["ticker.completed"], staff=False)
    make_hook(url=URL, events=["ticker.completed"], staff=False)
    make_hook(url=URL, events=["ticker.completed"], owner=alice.owner, secret="another-secret-0123").delete()
    notify(event="ticker.completed", payload={"symbol": "AAPL"}, owner_ids=[alice.owner_id])
    assert list(WebhookDelivery.objects.values_list("webhook_id", flat=True)) == [alice.id]


def test_an_event_whose_transaction_rolls_back_is_never_recorded(clean_broker):
    make_hook(url=URL, events=["run.failed"])
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(event="run.failed", payload={"run_id": 2})
        raise RuntimeError("the run's own work failed")
    assert not WebhookDelivery.objects.exists()


def test_an_unknown_event_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown webhook event 'run.started'"):
        notify(event="run.started", payload={})


def test_new_patterns_go_to_the_holders_of_the_ticker_only(clean_broker):
    holder = make_hook(url=URL, events=["patterns.detected"], staff=False)
    make_portfolio(owner=holder.owner, symbols=["NVDA", "MSFT"])
    stranger = make_user("stranger")
    make_portfolio(owner=stranger, symbols=["MSFT"])
    make_hook(url=URL, events=["patterns.detected"], owner=stranger)
    ticker = store("NVDA", random_walk(300, seed=9))
    result = detect_patterns(ticker=ticker, timeframe="daily")
    assert result.published >= 1
    (payload,) = payloads(event="patterns.detected")
    assert payload["count"] == len(payload["patterns"]) == result.published
    assert {p["symbol"] for p in payload["patterns"]} == {"NVDA"}
    assert WebhookDelivery.objects.get().webhook_id == holder.id
    assert Ticker.objects.get(symbol="NVDA").id == payload["patterns"][0]["ticker_id"]


def test_a_queue_alert_is_sent_once_when_it_fires_and_once_when_it_recovers(clean_broker):
    make_hook(url=URL, events=["queue.alert"])
    for i in range(3):
        request_fetch(
            ticker=Ticker.objects.create(symbol=f"D{i}"), timeframe="daily", reason=Reason.SCHEDULED
        )
    with override_settings(STOCKHUB_ALERT_QUEUE_DEPTH=2):
        queue_report()
        queue_report()
    with override_settings(STOCKHUB_ALERT_QUEUE_DEPTH=10):
        queue_report()
    sent = payloads(event="queue.alert")
    assert [(p["alert"], p["state"]) for p in sent] == [
        ("queue_depth:background", "firing"),
        ("queue_depth:background", "recovered"),
    ]
    assert sent[0]["value"] == 3 and sent[0]["threshold"] == 2
    assert sent[0]["message"] == "queue_depth:background: 3.0 messages waiting (threshold 2)"
