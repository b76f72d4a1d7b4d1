"""Admin shows each hook's last delivery and why it was disabled, and each delivery's attempts."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from notifications.models import Webhook
from notifications.services import deliver_webhook, notify
from notifications.tests.factories import make_hook

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client):
    client.force_login(
        get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    )
    return client


def test_a_delivery_page_lists_every_attempt_with_its_response_code(admin_client, clean_broker, receiver):
    receiver.respond_with(502)
    make_hook(url=receiver.url, events=["run.failed"])
    (delivery_id,) = notify(event="run.failed", payload={}).delivery_ids
    first = deliver_webhook(delivery_id=delivery_id)
    deliver_webhook(delivery_id=delivery_id, now=first.next_attempt_at)
    page = admin_client.get(reverse("admin:notifications_webhookdelivery_change", args=[delivery_id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "502" in html and "will retry" in html and "delivered" in html
    listing = admin_client.get(
        reverse("admin:notifications_webhookdelivery_changelist") + "?status__exact=delivered"
    )
    assert f"/{delivery_id}/change/" in listing.content.decode()


def test_a_disabled_hook_shows_its_reason_and_can_be_enabled_again(admin_client):
    hook = make_hook(url="http://127.0.0.1:9/hook", events=["queue.alert"])
    Webhook.objects.filter(id=hook.id).update(
        active=False, consecutive_failures=5, disabled_reason="disabled after 5 failed deliveries in a row"
    )
    listing = admin_client.get(reverse("admin:notifications_webhook_changelist"))
    assert "disabled after 5 failed deliveries in a row" in listing.content.decode()
    admin_client.post(
        reverse("admin:notifications_webhook_changelist"),
        {"action": "enable_selected", "_selected_action": [hook.id]},
    )
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures, hook.disabled_reason) == (True, 0, "")


def test_the_admin_form_refuses_a_private_address(admin_client):
    owner = get_user_model().objects.get(username="root")
    response = admin_client.post(
        reverse("admin:notifications_webhook_add"),
        {
            "owner": owner.id,
            "url": "http://10.0.0.8/hook",
            "events": ["queue.alert"],
            "secret": "s" * 20,
            "active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "webhooks may only call public addresses" in response.content.decode()
    assert not Webhook.objects.exists()
