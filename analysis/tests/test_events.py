"""publish_event: the StockHub envelope on Redis pub/sub, best effort when Redis is down."""

import logging

import redis

from analysis.tests.conftest import received
from stockhub.events import publish_event, publish_events


def test_a_subscriber_receives_the_event_in_the_stockhub_envelope(redis_url):
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("stockhub:test:events")
    pubsub.get_message(timeout=5)
    try:
        assert publish_event("stockhub:test:events", "thing.happened", {"id": 7, "name": "x"}) is True
        assert publish_events("stockhub:test:events", "thing.happened", [{"id": 8}, {"id": 9}]) == 2
        messages = received(pubsub)
    finally:
        pubsub.close()
        client.close()
    assert [m["payload"] for m in messages] == [{"id": 7, "name": "x"}, {"id": 8}, {"id": 9}]
    first = messages[0]
    assert set(first) == {"event", "timestamp", "source", "version", "payload"}
    assert (first["event"], first["source"], first["version"]) == ("thing.happened", "stockhub", "1")
    assert first["timestamp"].endswith("Z") and first["timestamp"][10] == "T"


def test_with_redis_unreachable_publishing_returns_false_and_logs_a_warning(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/1"
    with caplog.at_level(logging.WARNING, logger="stockhub.events"):
        assert publish_event("stockhub:test:events", "thing.happened", {"id": 1}) is False
    assert "could not publish 1 thing.happened event(s)" in caplog.text
