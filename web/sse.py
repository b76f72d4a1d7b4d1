"""The pages' live updates: Redis pub/sub (stockhub:*) streamed to the browser as server-sent events.

One connection per open page. Each event goes out as `id: N` plus `data: {"channel", "event", "timestamp",
"payload"}`; a comment line every STOCKHUB_SSE_HEARTBEAT_SECONDS keeps proxies from closing a quiet stream.
Pub/sub keeps nothing, so a browser that reconnects (EventSource does by itself, after the `retry:` hint)
gets a `hello` saying so and reloads the current state from the database instead of replaying.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from analysis.services import PATTERN_CHANNEL
from ingest.services.job_events import JOBS_CHANNEL
from portfolios.selectors import held_tickers

logger = logging.getLogger(__name__)

SUBSCRIBED = "stockhub:*"
PUBLIC_PREFIX = "stockhub:processing:"  # run progress: every signed-in person may watch it
RECONNECT_MILLISECONDS = 3000  # the browser waits this long before reconnecting after a drop


@dataclass
class Viewer:
    """Who is watching: decides which events reach this connection."""

    user_id: int
    is_staff: bool
    symbols: set[str] = field(default_factory=set)  # held tickers, plus those of the viewer's own jobs


def visible(*, channel: str, payload: dict, viewer: Viewer) -> bool:
    """Staff see everything; others see run progress, their own jobs and ticker-queue entries, jobs and
    patterns about tickers they hold. Per-symbol run failures (stockhub:errors) are for staff."""
    if viewer.is_staff or channel.startswith(PUBLIC_PREFIX):
        return True
    own = payload.get("user_id") == viewer.user_id
    if channel.startswith("stockhub:ticker:"):
        return own
    if channel == JOBS_CHANNEL:
        return own or payload.get("symbol") in viewer.symbols
    if channel == PATTERN_CHANNEL:
        return payload.get("symbol") in viewer.symbols
    return False


def sse_message(*, data: dict, event_id: int | None = None, event: str | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id is not None else []
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


async def events_view(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse("sign in first", status=403, content_type="text/plain")
    symbols = await sync_to_async(lambda: set(held_tickers(user=user).values_list("symbol", flat=True)))()
    viewer = Viewer(user_id=user.pk, is_staff=user.is_staff, symbols=symbols)
    resumed = bool(request.headers.get("Last-Event-ID"))
    response = StreamingHttpResponse(_stream(viewer, resumed=resumed), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold events back in its buffer
    return response


async def _stream(viewer: Viewer, *, resumed: bool) -> AsyncIterator[str]:
    heartbeat = settings.STOCKHUB_SSE_HEARTBEAT_SECONDS
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    count = 0
    try:
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
        try:
            await pubsub.psubscribe(SUBSCRIBED)
        except (aioredis.RedisError, OSError) as error:
            logger.warning("event stream: Redis at REDIS_URL unavailable (%s); the browser will retry", error)
            yield sse_message(data={"redis": False}, event="unavailable")
            return
        yield sse_message(data={"resumed": resumed, "staff": viewer.is_staff}, event="hello")
        beat_at = time.monotonic() + heartbeat
        while True:
            message = await pubsub.get_message(timeout=max(0.05, beat_at - time.monotonic()))
            if message is None:
                if time.monotonic() >= beat_at:
                    yield ": heartbeat\n\n"
                    beat_at = time.monotonic() + heartbeat
                continue
            outgoing = _outgoing(message, viewer)
            if outgoing is not None:
                count += 1
                yield sse_message(data=outgoing, event_id=count)
    except (aioredis.RedisError, OSError) as error:
        # Ending the response makes the browser reconnect (after `retry:`) and reload the state.
        logger.warning("event stream: lost Redis (%s); closing so the browser reconnects", error)
    finally:
        await pubsub.aclose()
        await client.aclose()


def _outgoing(message: dict, viewer: Viewer) -> dict | None:
    channel = message["channel"].decode()
    try:
        body = json.loads(message["data"])
    except ValueError:
        logger.warning("event stream: not JSON on %s; skipped", channel)
        return None
    payload = body.get("payload") or {}
    if not visible(channel=channel, payload=payload, viewer=viewer):
        return None
    if channel == JOBS_CHANNEL and payload.get("user_id") == viewer.user_id:
        viewer.symbols.add(payload.get("symbol"))  # a ticker the viewer asked for: its patterns too
    return {"channel": channel, **body}
