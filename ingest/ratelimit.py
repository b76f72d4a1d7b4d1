"""One request-rate limiter per provider, shared by every worker: a token bucket kept in Redis.

The bucket lives at `stockhub:ratelimit:<provider>` in REDIS_URL and is read and changed by one Lua script,
on the Redis server's clock, so any number of processes on any number of hosts draw from the same tokens.
A Redis that is down or slow lets the call through with a warning: the limiter protects the provider's
quota, and the provider's own 429 (retried after its Retry-After) is the backstop, so losing the limiter
store must never stop fetching.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from ingest.errors import RateLimitWait
from stockhub.events import CONNECT_TIMEOUT_SECONDS, REPLY_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

KEY_PREFIX = "stockhub:ratelimit:"

# KEYS[1]: the bucket (a hash: tokens, stamp, line). ARGV: tokens per second, burst, max wait, max spread.
# Returns {granted (1/0), seconds (a string: Redis would truncate a Lua number to an integer)}.
# Granted with seconds > 0 is a reservation: the token is taken now (tokens may go below zero, which queues
# the callers behind it) and the caller sleeps that long. Refused callers are told to come back one token
# apart ("line"), at most max spread ahead, so a backlog of jobs returns at the refill rate, not all at once.
BUCKET_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_wait, spread = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp', 'line')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
local line = tonumber(state[3]) or 0
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = math.max(0, (1 - tokens) / rate)
local granted = 0
if wait <= max_wait then
  tokens = tokens - 1
  granted = 1
else
  wait = math.max(wait, math.min(line - now + 1 / rate, spread))
  line = now + wait
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now), 'line', tostring(line))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate + max_wait + spread) + 60)
return {granted, tostring(wait)}
"""

_scripts: dict[str, Script] = {}
_scripts_lock = threading.Lock()


def _script() -> Script:
    """The bucket script on a client with stockhub.events' short timeouts, one per REDIS_URL."""
    url = settings.REDIS_URL
    with _scripts_lock:
        if url not in _scripts:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=REPLY_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),  # one attempt: a retry would double the wait on a dead Redis
            )
            _scripts[url] = client.register_script(BUCKET_SCRIPT)
        return _scripts[url]


def provider_rate_per_minute(provider: str) -> float:
    """Requests a minute `provider` may receive from all of StockHub; 0 means unlimited."""
    return settings.STOCKHUB_RATE_LIMITS_PER_MINUTE.get(provider, 0.0)


def acquire_provider_slot(*, provider: str, max_wait_seconds: float) -> float:
    """Take one request slot of `provider`, sleeping up to `max_wait_seconds` for it; returns seconds slept.

    Raises RateLimitWait (retryable, retry_after = seconds until this caller's turn) when the slot is further
    away than that, so a worker is given back rather than held asleep. Unlimited providers return 0 at once,
    and so does every call while Redis is unavailable (logged as a warning).
    """
    rate_per_minute = provider_rate_per_minute(provider)
    if rate_per_minute <= 0:
        return 0.0
    burst = max(1, settings.STOCKHUB_RATE_LIMIT_BURSTS.get(provider, 1))
    spread = max(settings.STOCKHUB_RETRY_MAX_SECONDS, max_wait_seconds)
    try:
        granted, seconds = _script()(
            keys=[KEY_PREFIX + provider], args=[rate_per_minute / 60, burst, max_wait_seconds, spread]
        )
    except (redis.RedisError, OSError) as error:
        logger.warning(
            "provider=%s rate limit not applied (Redis at REDIS_URL unavailable: %s); the request goes ahead",
            provider,
            error,
        )
        return 0.0
    seconds = float(seconds)
    if not int(granted):
        raise RateLimitWait(
            f"{provider} allows {rate_per_minute:g} requests a minute; the next slot is in {seconds:.1f}s",
            retry_after=seconds,
        )
    if seconds > 0:
        logger.info("provider=%s rate limit: waiting %.2fs for a request slot", provider, seconds)
        time.sleep(seconds)
    return seconds
