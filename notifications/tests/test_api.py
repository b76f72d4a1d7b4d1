"""GET/POST /api/webhooks and DELETE /api/webhooks/<id>: a user's own hooks; run-level events for staff."""

from __future__ import annotations

import re

import pytest

from notifications.models import Webhook
from portfolios.tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

KNOWN = "run.completed, run.failed, ticker.completed, ticker.failed, patterns.detected, queue.alert"


def post(client, **body):
    return client.post("/api/webhooks", body, content_type="application/json")


@pytest.fixture
def bob(client):
    user = make_user("bob")
    client.force_login(user)
    return user


def test_the_api_needs_a_login(client):
    assert client.get("/api/webhooks").status_code == 403


def test_a_created_hook_shows_its_generated_secret_once(client, bob, receiver):
    response = post(
        client, url=receiver.url, events=["patterns.detected", "ticker.failed", "patterns.detected"]
    )
    assert response.status_code == 201
    created = response.json()
    assert re.fullmatch(r"[0-9a-f]{64}", created["secret"])
    assert created["events"] == ["patterns.detected", "ticker.failed"]
    assert created["active"] is True and created["last_delivery_status"] == ""
    assert Webhook.objects.get(id=created["id"]).secret == created["secret"]
    (listed,) = client.get("/api/webhooks").json()
    assert listed["id"] == created["id"] and "secret" not in listed


def test_a_secret_given_is_kept_and_a_short_one_refused(client, bob, receiver):
    kept = post(client, url=receiver.url, events=["ticker.completed"], secret="s" * 20)
    assert kept.json()["secret"] == "s" * 20
    short = post(client, url=receiver.url, events=["ticker.completed"], secret="short")
    assert short.status_code == 400 and short.json()["error"].startswith("secret: ")


def test_a_user_sees_and_deletes_only_their_own_hooks(client, bob, receiver):
    mine = post(client, url=receiver.url, events=["ticker.completed"]).json()["id"]
    theirs = Webhook.objects.create(
        owner=make_user("eve"), url=receiver.url, events=["ticker.completed"], secret="x" * 20
    )
    assert [hook["id"] for hook in client.get("/api/webhooks").json()] == [mine]
    response = client.delete(f"/api/webhooks/{theirs.id}")
    assert response.status_code == 404 and response.json()["error"] == f"you have no webhook {theirs.id}"
    assert client.delete(f"/api/webhooks/{mine}").status_code == 204
    assert list(Webhook.objects.values_list("id", flat=True)) == [theirs.id]


@pytest.mark.parametrize("event", ["run.completed", "run.failed", "queue.alert"])
def test_run_level_events_are_for_staff_only(client, bob, receiver, event):
    response = post(client, url=receiver.url, events=["ticker.failed", event])
    assert response.status_code == 403
    assert response.json()["error"] == f"only staff may subscribe to run-level events ({event})"
    client.force_login(make_user("root", staff=True))
    assert post(client, url=receiver.url, events=[event]).status_code == 201


@pytest.mark.parametrize(
    "body, message",
    [
        ({"events": ["ticker.failed"]}, "url: This field is required."),
        ({"url": "https://example.com/h", "events": []}, f"events: subscribe to at least one event: {KNOWN}"),
        (
            {"url": "https://example.com/h", "events": ["bars.stored"]},
            f"events: unknown event 'bars.stored'; known: {KNOWN}",
        ),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field(client, bob, body, message):
    response = post(client, **body)
    assert response.status_code == 400
    assert response.json()["error"] == message
