"""When a delivery retries, ends or disables its hook: the delivery service called with a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from notifications.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from notifications.services import deliver_webhook, dispatch_due_deliveries, notify
from notifications.tests.factories import make_hook

pytestmark = pytest.mark.django_db(transaction=True)


def one_delivery(receiver, event: str = "run.failed", **hook) -> int:
    make_hook(url=receiver.url, events=[event], **hook)
    (delivery_id,) = notify(event=event, payload={"run_id": 1}).delivery_ids
    return delivery_id


def test_a_4xx_ends_the_delivery_at_once_without_a_retry(clean_broker, receiver):
    receiver.respond_with(404)
    delivery_id = one_delivery(receiver)
    result = deliver_webhook(delivery_id=delivery_id)
    assert (result.status, result.response_code) == ("failed", 404)
    later = deliver_webhook(delivery_id=delivery_id, now=timezone.now() + timedelta(days=2))
    assert not later.attempted
    assert len(receiver.requests) == 1
    delivery = WebhookDelivery.objects.get(id=delivery_id)
    assert (delivery.attempts, delivery.last_response_code, delivery.last_error) == (1, 404, "HTTP 404: ok")
    assert delivery.webhook.last_delivery_status == "failed" and delivery.webhook.consecutive_failures == 1


def test_a_429_is_retried_like_a_5xx(clean_broker, receiver):
    receiver.respond_with(429)
    delivery_id = one_delivery(receiver)
    first = deliver_webhook(delivery_id=delivery_id)
    assert (first.status, first.response_code) == ("pending", 429)
    second = deliver_webhook(delivery_id=delivery_id, now=first.next_attempt_at)
    assert (second.status, second.response_code) == ("delivered", 200)


def test_retries_follow_the_schedule_and_the_delivery_fails_when_it_runs_out(
    clean_broker, receiver, settings
):
    settings.STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS = [10, 20]
    receiver.respond_with(503, 503, 503)
    delivery_id = one_delivery(receiver)
    start = timezone.now()
    first = deliver_webhook(delivery_id=delivery_id, now=start)
    assert first.next_attempt_at == start + timedelta(seconds=10)
    assert not deliver_webhook(delivery_id=delivery_id, now=start + timedelta(seconds=5)).attempted
    second = deliver_webhook(delivery_id=delivery_id, now=start + timedelta(seconds=10))
    assert second.next_attempt_at == start + timedelta(seconds=30)
    third = deliver_webhook(delivery_id=delivery_id, now=start + timedelta(seconds=30))
    assert (third.status, third.next_attempt_at) == ("failed", None)
    attempts = WebhookAttempt.objects.filter(delivery_id=delivery_id).order_by("number")
    assert [(a.response_code, a.outcome) for a in attempts] == [
        (503, "retry"),
        (503, "retry"),
        (503, "failed"),
    ]
    assert len(receiver.requests) == 3


def test_a_receiver_that_does_not_answer_in_time_is_retried(clean_broker, receiver, settings):
    settings.STOCKHUB_WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver.delay_seconds = 1.0
    delivery_id = one_delivery(receiver)
    result = deliver_webhook(delivery_id=delivery_id)
    assert (result.status, result.response_code) == ("pending", None)
    assert "timed out" in WebhookDelivery.objects.get(id=delivery_id).last_error.lower()


def test_a_hook_that_keeps_failing_is_disabled_with_a_visible_reason(clean_broker, receiver, settings):
    settings.STOCKHUB_WEBHOOK_DISABLE_AFTER_FAILURES = 2
    receiver.respond_with(410, 410)
    hook = make_hook(url=receiver.url, events=["ticker.failed"], staff=False)
    ids = [
        notify(event="ticker.failed", payload={"n": n}, owner_ids=[hook.owner_id]).delivery_ids[0]
        for n in range(3)
    ]
    assert not deliver_webhook(delivery_id=ids[0]).webhook_disabled
    assert deliver_webhook(delivery_id=ids[1]).webhook_disabled
    hook.refresh_from_db()
    assert not hook.active
    assert hook.disabled_reason == "disabled after 2 failed deliveries in a row (last: HTTP 410: ok)"
    third = WebhookDelivery.objects.get(id=ids[2])
    assert (third.status, third.last_error, third.attempts) == ("failed", "webhook disabled", 0)
    assert notify(event="ticker.failed", payload={}, owner_ids=[hook.owner_id]).delivery_ids == []
    assert len(receiver.requests) == 2


def test_a_delivered_delivery_is_never_sent_again(clean_broker, receiver):
    delivery_id = one_delivery(receiver)
    assert deliver_webhook(delivery_id=delivery_id).status == "delivered"
    again = deliver_webhook(delivery_id=delivery_id, now=timezone.now() + timedelta(hours=1))
    assert (again.attempted, again.status) == (False, "delivered")
    assert len(receiver.requests) == 1


def test_the_sweeper_sends_again_deliveries_overdue_by_more_than_a_minute(clean_broker, receiver):
    make_hook(url=receiver.url, events=["run.failed"])
    overdue, fresh = (notify(event="run.failed", payload={"n": n}).delivery_ids[0] for n in range(2))
    WebhookDelivery.objects.filter(id=overdue).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    result = dispatch_due_deliveries()
    assert (result.due, result.sent) == (1, 1)
    assert WebhookDelivery.objects.get(id=fresh).status == DeliveryStatus.PENDING


def test_the_default_retry_schedule_spans_about_a_day():
    from stockhub import settings as defaults  # the module's defaults, not the tests' short schedule

    total_hours = sum(defaults.STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS) / 3600
    assert 20 <= total_hours <= 26
    assert (
        django_settings.STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS
        != defaults.STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS
    )
