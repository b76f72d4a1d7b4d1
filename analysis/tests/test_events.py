"""publish_event: the StockHub envelope on Redis pub/sub, best effort when Redis is down."""

import logging

import pytest
import redis

from analysis.tests.conftest import received
from stockhub.events import gathered, publish_event, publish_events, write_best_effort


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


def test_events_gathered_in_a_block_go_out_together_at_its_end_even_after_an_error(redis_url):
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("stockhub:test:events")
    pubsub.get_message(timeout=5)
    try:
        with pytest.raises(RuntimeError), gathered():
            publish_event("stockhub:test:events", "thing.happened", {"id": 1})
            write_best_effort("set", "stockhub:test:flag", 1, px=60_000)
            with gathered():  # nested: the outer block sends
                publish_events("stockhub:test:events", "thing.happened", [{"id": 2}])
            assert pubsub.get_message(timeout=0.2) is None  # nothing sent yet
            assert not client.exists("stockhub:test:flag")
            raise RuntimeError("the work failed")
        messages = received(pubsub)
        assert [m["payload"] for m in messages] == [{"id": 1}, {"id": 2}]  # in the order published
        assert 0 < client.pttl("stockhub:test:flag") <= 60_000
    finally:
        client.delete("stockhub:test:flag")
        pubsub.close()
        client.close()


def test_gathered_events_with_redis_unreachable_are_dropped_with_a_warning(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/1"
    with caplog.at_level(logging.WARNING, logger="stockhub.events"), gathered():
        publish_events("stockhub:test:events", "thing.happened", [{"id": 1}, {"id": 2}])
    assert "could not publish 2 gathered event(s)" in caplog.text
