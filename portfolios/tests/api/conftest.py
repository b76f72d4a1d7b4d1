"""Fixtures of the API tests: clients logged in by session or token, and the shared cache on the test Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from portfolios.tests.factories import make_user


@pytest.fixture(autouse=True)
def shared_cache(broker_url: str, settings) -> Iterator[redis.Redis]:
    """Django's cache (throttles, login limits) on the test Redis, with no counts left by earlier tests.
    Yields a plain Redis client on the same database, to look at what the cache stored."""
    settings.CACHES = {"default": {**django_settings.CACHES["default"], "LOCATION": settings.REDIS_URL}}
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = f"{settings.CACHES['default']['KEY_PREFIX']}:*"
    for key in client.scan_iter(prefix):
        client.delete(key)
    yield client
    client.close()


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice) -> APIClient:
    """A client logged in as alice by session (CSRF is not enforced by the test client unless asked)."""
    client = APIClient()
    client.force_login(alice)
    return client


@pytest.fixture
def other_api() -> APIClient:
    client = APIClient()
    client.force_login(make_user("mallory"))
    return client
