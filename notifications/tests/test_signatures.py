"""A receiver that runs the documented check accepts our requests and refuses replays and forgeries."""

from __future__ import annotations

import pytest

from notifications.services import deliver_webhook, notify
from notifications.signing import sign, verify_signature
from notifications.tests.factories import SECRET, make_hook

BODY = b'{"event": "run.completed", "payload": {}}'


def test_a_signature_verifies_only_for_its_secret_body_and_timestamp():
    now = 1_700_000_000
    signature = sign(secret=SECRET, body=BODY, timestamp=now)
    assert verify_signature(secret=SECRET, body=BODY, timestamp=str(now), signature=signature, now=now)
    assert verify_signature(
        secret=SECRET, body=BODY.decode(), timestamp=now, signature=signature, now=now + 299
    )
    assert not verify_signature(
        secret="another-secret-0123456", body=BODY, timestamp=now, signature=signature, now=now
    )
    assert not verify_signature(secret=SECRET, body=BODY + b" ", timestamp=now, signature=signature, now=now)
    assert not verify_signature(secret=SECRET, body=BODY, timestamp=now + 1, signature=signature, now=now)
    assert not verify_signature(secret=SECRET, body=BODY, timestamp="soon", signature=signature, now=now)
    assert not verify_signature(secret=SECRET, body=BODY, timestamp=now, signature="sha256=é", now=now)


def test_a_request_older_than_the_tolerance_is_refused_in_either_direction():
    sent_at = 1_700_000_000
    signature = sign(secret=SECRET, body=BODY, timestamp=sent_at)
    assert not verify_signature(
        secret=SECRET, body=BODY, timestamp=sent_at, signature=signature, now=sent_at + 301
    )
    assert not verify_signature(
        secret=SECRET, body=BODY, timestamp=sent_at, signature=signature, now=sent_at - 301
    )
    assert verify_signature(
        secret=SECRET,
        body=BODY,
        timestamp=sent_at,
        signature=signature,
        now=sent_at + 3000,
        tolerance_seconds=3600,
    )


@pytest.mark.django_db(transaction=True)
def test_the_receiver_accepts_a_delivery_and_refuses_its_replay(clean_broker, receiver):
    receiver.secret = SECRET
    make_hook(url=receiver.url, events=["run.completed"])
    (delivery_id,) = notify(event="run.completed", payload={"run_id": 3}).delivery_ids
    assert deliver_webhook(delivery_id=delivery_id).status == "delivered"
    (original,) = receiver.requests
    assert original.verified is True
    receiver.clock_offset_seconds = 600  # the same bytes, ten minutes later
    assert receiver.replay(original) == 401
    receiver.clock_offset_seconds = 0
    # a replay given a new timestamp (within the tolerance) no longer matches the signature
    fresh = str(int(original.headers["X-StockHub-Timestamp"]) + 1)
    assert receiver.replay(original, **{"X-StockHub-Timestamp": fresh}) == 401
    assert [r.verified for r in receiver.requests] == [True, False, False]
