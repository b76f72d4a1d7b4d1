"""Announcing what happened on Redis pub/sub, in one envelope for every event StockHub publishes.

Publishing is best effort: a subscriber that is not listening misses the message (pub/sub keeps nothing),
and a Redis that is down or slow costs at most the short timeouts below, logs a warning, and never fails
or blocks the work that produced the event. The database stays the record.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

ENVELOPE_VERSION = "1"
SOURCE = "stockhub"
# A local Redis answers in well under a millisecond; a connect or reply slower than this is a Redis in
# trouble, and the work that publishes must not wait on it.
CONNECT_TIMEOUT_SECONDS = 0.5
REPLY_TIMEOUT_SECONDS = 0.5

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def envelope(event: str, payload: dict, *, now: datetime | None = None) -> dict:
    """{"event", "timestamp" (ISO 8601 UTC), "source": "stockhub", "version": "1", "payload"}."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "event": event,
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "source": SOURCE,
        "version": ENVELOPE_VERSION,
        "payload": payload,
    }


def redis_client() -> redis.Redis:
    """The process's client for REDIS_URL, with short timeouts and no retry (events, signals between lanes)."""
    url = settings.REDIS_URL
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=REPLY_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),  # one attempt: a retry would double the wait on a dead Redis
            )
        return _clients[url]


def publish_event(channel: str, event: str, payload: dict) -> bool:
    """Publish one event in the StockHub envelope; False (and a warning) when Redis cannot take it."""
    return publish_events(channel, event, [payload]) == 1


def publish_events(channel: str, event: str, payloads: Iterable[dict]) -> int:
    """Publish several events in one round trip; returns how many Redis accepted (0 when it is down).
    Inside `gathered()` they join its round trip instead, and the count is of those handed to it."""
    messages = [json.dumps(envelope(event, payload), cls=DjangoJSONEncoder) for payload in payloads]
    if not messages:
        return 0
    writes = [("publish", (channel, message), {}) for message in messages]
    if (waiting := _gathered.get()) is not None:
        waiting.extend(writes)
        return len(messages)
    return len(messages) if _send(writes, what=f"{len(messages)} {event} event(s) on {channel}") else 0


def write_best_effort(command: str, *args, **kwargs) -> None:
    """One Redis write that may be lost (a short-lived signal between lanes): sent now, or with the events
    of the surrounding `gathered()`."""
    if (waiting := _gathered.get()) is not None:
        waiting.append((command, args, kwargs))
        return
    _send([(command, args, kwargs)], what=f"{command} {args[0] if args else ''}".strip(), quiet=True)


# The writes a `gathered()` block holds back; None outside one.
_gathered: ContextVar[list[tuple[str, tuple, dict]] | None] = ContextVar("stockhub_gathered", default=None)


@contextmanager
def gathered() -> Iterator[None]:
    """Events published (and best-effort writes made) inside go out together, in one round trip, when the
    block ends, even by an exception. A job's end announces itself, its run's progress, its analysis job and
    its user's next job: four round trips to Redis where one does, on a worker that is short of CPU."""
    if _gathered.get() is not None:  # nested: the outermost block sends
        yield
        return
    waiting: list[tuple[str, tuple, dict]] = []
    token = _gathered.set(waiting)
    try:
        yield
    finally:
        _gathered.reset(token)
        if waiting:
            _send(waiting, what=f"{len(waiting)} gathered event(s)")


def _send(writes: list[tuple[str, tuple, dict]], *, what: str, quiet: bool = False) -> bool:
    try:
        pipeline = redis_client().pipeline(transaction=False)
        for command, args, kwargs in writes:
            getattr(pipeline, command)(*args, **kwargs)
        pipeline.execute()
    except (redis.RedisError, OSError) as error:
        (logger.debug if quiet else logger.warning)(
            "could not publish %s (Redis at REDIS_URL unavailable: %s); the work goes on", what, error
        )
        return False
    return True
