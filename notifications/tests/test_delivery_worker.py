"""A real analysis worker delivers webhooks to a real receiver: signed, in the Redis events' envelope, retried."""

from __future__ import annotations

import json
import time

import pytest

from notifications.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from notifications.services import notify
from notifications.signing import verify_signature
from notifications.tests.conftest import WORKER_ENV
from notifications.tests.factories import SECRET, make_hook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_until_finished(delivery_id: int, *, seconds: float = 30) -> WebhookDelivery:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        delivery = WebhookDelivery.objects.get(id=delivery_id)
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
        time.sleep(0.1)
    raise AssertionError(f"delivery {delivery_id} still pending after {seconds}s")


def test_the_worker_delivers_a_signed_event_in_the_redis_envelope(workers, receiver):
    hook = make_hook(url=receiver.url, events=["run.completed"])
    workers.start("analysis", env=WORKER_ENV)
    (delivery_id,) = notify(event="run.completed", payload={"run_id": 7, "tickers": 30}).delivery_ids
    delivery = wait_until_finished(delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("delivered", 1, 200)
    (request,) = receiver.requests
    headers = request.headers
    assert verify_signature(
        secret=SECRET,
        body=request.body,
        timestamp=headers["X-StockHub-Timestamp"],
        signature=headers["X-StockHub-Signature"],
    )
    assert headers["X-StockHub-Signature"].startswith("sha256=")
    assert (headers["X-StockHub-Event"], headers["X-StockHub-Delivery"]) == (
        "run.completed",
        str(delivery_id),
    )
    assert headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert set(body) == {"event", "timestamp", "source", "version", "payload"}
    assert (body["event"], body["source"], body["version"]) == ("run.completed", "stockhub", "1")
    assert body["payload"] == {"run_id": 7, "tickers": 30}
    hook.refresh_from_db()
    assert (hook.last_delivery_status, hook.consecutive_failures) == ("delivered", 0)


def test_after_a_500_the_worker_retries_and_the_second_attempt_is_delivered(workers, receiver):
    receiver.respond_with(500)
    make_hook(url=receiver.url, events=["queue.alert"])
    workers.start("analysis", env=WORKER_ENV)
    (delivery_id,) = notify(event="queue.alert", payload={"alert": "queue_depth:background"}).delivery_ids
    delivery = wait_until_finished(delivery_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    attempts = WebhookAttempt.objects.filter(delivery_id=delivery_id).order_by("number")
    assert [(a.number, a.response_code, a.outcome) for a in attempts] == [
        (1, 500, "retry"),
        (2, 200, "delivered"),
    ]
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body  # a retry sends the same bytes
