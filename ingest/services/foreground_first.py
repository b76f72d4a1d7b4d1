"""Foreground first on a shared machine: background and analysis jobs wait to start while foreground jobs
are being sent or run.

Separate queues keep foreground messages from waiting behind a backlog, and worker niceness gives foreground
processes the CPU first, but the database serves every lane at the same priority: on a small machine a
login's fetches ran 2-3x slower next to busy background workers. So foreground work keeps a short-lived
Redis key alive (set when its jobs are sent, claimed and ended), and a background or analysis job checks it
before its claim and waits while it is present, at most STOCKHUB_FOREGROUND_FIRST_MAX_WAIT_SECONDS per job,
so background work slows down under a stream of logins but never stops. Jobs already running finish.

Best effort: with Redis down nobody waits. STOCKHUB_FOREGROUND_FIRST=False turns it off (e.g. when the
lanes run on separate hosts and a separate database replica serves the background).
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings

from stockhub.events import redis_client, write_best_effort

logger = logging.getLogger(__name__)

FOREGROUND_ACTIVE_KEY = "stockhub:foreground:active"
POLL_SECONDS = 0.02


def mark_foreground_active() -> None:
    """Foreground work is queued or running: background claims hold back for the next few hundred ms."""
    if not settings.STOCKHUB_FOREGROUND_FIRST:
        return
    write_best_effort("set", FOREGROUND_ACTIVE_KEY, 1, px=settings.STOCKHUB_FOREGROUND_ACTIVE_MS)


def wait_while_foreground_active() -> float:
    """Before a background or analysis claim: wait while foreground work is active; returns seconds waited."""
    if not settings.STOCKHUB_FOREGROUND_FIRST:
        return 0.0
    started = time.monotonic()
    deadline = started + settings.STOCKHUB_FOREGROUND_FIRST_MAX_WAIT_SECONDS
    client = redis_client()
    try:
        while client.exists(FOREGROUND_ACTIVE_KEY) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    except (redis.RedisError, OSError) as error:
        logger.debug("could not check for foreground work: %s", error)
    return time.monotonic() - started
