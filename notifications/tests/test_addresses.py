"""Webhooks call only http(s) URLs on public addresses, at creation and again at every delivery."""

from __future__ import annotations

import pytest

from notifications.models import WebhookDelivery
from notifications.services import deliver_webhook, notify
from notifications.tests.factories import make_hook
from portfolios.tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("root", staff=True))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",  # private
        "http://192.168.0.10/hook",
        "http://172.16.5.4:8080/hook",
        "http://127.0.0.2/hook",  # loopback outside the tests' allowed 127.0.0.1
        "http://169.254.169.254/latest/meta-data/",  # link-local: the cloud metadata endpoint
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",  # an IPv4 private address written as IPv6
        "http://[fd00::1]/hook",  # unique local
        "http://224.0.0.1/hook",  # multicast
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
    ],
)
def test_private_loopback_and_reserved_addresses_are_refused(staff_client, url):
    response = staff_client.post(
        "/api/webhooks", {"url": url, "events": ["queue.alert"]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "webhooks may only call public addresses" in response.json()["error"]


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/hook", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("http:///hook", "has no host name"),
        ("http://user:pw@example.com/hook", "must not contain a user name or password"),
        ("http://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_only_http_urls_with_a_resolvable_host_are_accepted(staff_client, url, message):
    response = staff_client.post(
        "/api/webhooks", {"url": url, "events": ["queue.alert"]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert message in response.json()["error"] and response.json()["error"].startswith("url: ")


def test_a_loopback_address_is_refused_unless_the_setting_allows_it(staff_client, receiver, settings):
    settings.STOCKHUB_WEBHOOK_ALLOWED_NETWORKS = []
    body = {"url": receiver.url, "events": ["queue.alert"]}
    assert staff_client.post("/api/webhooks", body, content_type="application/json").status_code == 400
    by_name = {"url": receiver.url.replace("127.0.0.1", "localhost"), "events": ["queue.alert"]}
    assert staff_client.post("/api/webhooks", by_name, content_type="application/json").status_code == 400
    settings.STOCKHUB_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert staff_client.post("/api/webhooks", body, content_type="application/json").status_code == 201


def test_a_delivery_to_an_address_no_longer_allowed_fails_without_a_request(clean_broker, receiver, settings):
    make_hook(url=receiver.url, events=["run.completed"])  # allowed when it was made
    (delivery_id,) = notify(event="run.completed", payload={}).delivery_ids
    settings.STOCKHUB_WEBHOOK_ALLOWED_NETWORKS = []
    result = deliver_webhook(delivery_id=delivery_id)
    assert (result.status, result.response_code) == ("failed", None)
    assert "127.0.0.1, a loopback, private" in WebhookDelivery.objects.get(id=delivery_id).last_error
    assert receiver.requests == []
