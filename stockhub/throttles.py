"""API request throttles: per user and per anonymous address, counted in the shared cache's Redis, so every
web process sees the same counts. Rates come from STOCKHUB_API_THROTTLE_USER / STOCKHUB_API_THROTTLE_ANON."""

from __future__ import annotations

import logging
import os
import weakref

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)

# The requests of the last window, one sorted-set member each, scored by the Redis server's clock (one clock
# for every web process on every host). Counting and adding happen in one script, so two processes cannot
# both read "one left" and both let a request through, and a request costs one round trip with no list to
# unpickle (DRF's own throttle reads the whole history from the cache and writes it back). Returns -1 when
# the request may go, else the milliseconds until the oldest counted request leaves the window.
_SLIDING_WINDOW = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
    redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    return -1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] == nil then return window end  -- a rate of 0: nothing ever leaves to make room
return math.max(tonumber(oldest[2]) + window - now, 1)
"""


# The script on each cache client (one per thread: Django's caches are thread-local). get_client() builds a
# new Redis object per call, with its ~170 response callbacks: ~0.25 ms of a ~3 ms request, measured.
_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _window_script():
    """The sliding-window script on this thread's cache client; it goes by its SHA1 (EVALSHA), sent whole
    only the first time a server meets it."""
    client = cache._cache  # Django's RedisCacheClient, holding the connection pools
    script = _scripts.get(client)
    if script is None:
        script = _scripts[client] = client.get_client(write=True).register_script(_SLIDING_WINDOW)
    return script


class _SlidingWindow:
    """At most `num_requests` in any `duration` seconds, counted in the shared cache's Redis."""

    num_requests: int
    duration: int

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        wait_ms = _window_script()(
            keys=[cache.make_and_validate_key(key)],
            args=[self.duration * 1000, self.num_requests, os.urandom(6).hex()],  # two requests in one ms
        )
        self.wait_seconds = None if wait_ms < 0 else wait_ms / 1000
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds


class _FailOpen:
    """With Redis down the API keeps answering unthrottled (logged): the rest of StockHub is built to run
    through a broker outage, and refusing every request would turn a throttle into an outage."""

    setting_name: str

    def get_rate(self) -> str:
        # Read at request time, not import time (DRF's default), so a changed setting applies at once.
        return getattr(settings, self.setting_name)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError as error:
            logger.warning("throttle %s not applied, cache unreachable: %s", self.scope, error)
            return True


class UserThrottle(_FailOpen, _SlidingWindow, UserRateThrottle):
    """Requests per logged-in user (session or token), e.g. 600/min."""

    setting_name = "STOCKHUB_API_THROTTLE_USER"


class AnonThrottle(_FailOpen, _SlidingWindow, AnonRateThrottle):
    """Requests per address without a login, e.g. 60/min (only endpoints open to anonymous users)."""

    setting_name = "STOCKHUB_API_THROTTLE_ANON"
