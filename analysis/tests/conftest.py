"""Fixtures of the analysis tests: the real Redis that events are published on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis


@pytest.fixture(autouse=True)
def _test_redis_for_database_tests(request: pytest.FixtureRequest) -> None:
    """Tests that store analysis results also publish: never to the Redis of a running `make up`."""
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("redis_url")


@pytest.fixture
def redis_url(broker_url: str) -> str:
    """settings.REDIS_URL, running: REDIS_URL when set, else the test Redis the broker_url fixture started."""
    from django.conf import settings

    return settings.REDIS_URL


@pytest.fixture
def subscriber(redis_url: str) -> Iterator[redis.client.PubSub]:
    """A real subscriber to the pattern channel, listening before the test publishes."""
    from analysis.services import PATTERN_CHANNEL

    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(PATTERN_CHANNEL)
    assert pubsub.get_message(timeout=5) is None  # consumes the subscribe confirmation
    yield pubsub
    pubsub.close()
    client.close()


def received(pubsub: redis.client.PubSub, *, wait_seconds: float = 2.0) -> list[dict]:
    """Every message that arrives until `wait_seconds` pass without one."""
    import json

    messages = []
    while (message := pubsub.get_message(timeout=wait_seconds)) is not None:
        messages.append(json.loads(message["data"]))
    return messages
