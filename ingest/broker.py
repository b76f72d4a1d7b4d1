"""What the broker holds right now, read in one place for the reconciler and the queue statistics."""

from __future__ import annotations

import logging

from stockhub.queues import TASK_QUEUES

logger = logging.getLogger(__name__)


def queue_depths_by_priority() -> dict[str, dict[int, int]] | None:
    """queue -> {our priority 1..10: messages waiting}, or None when the broker cannot be reached.

    On Redis, kombu keeps one list per priority step (`_q_for_pri`), and a list that does not exist is just
    empty. RabbitMQ only reports a queue's total, filed under priority 0 (callers count the job rows by
    priority instead); see `_amqp_depth`.
    """
    from celery_app import app

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            if _is_redis(channel):
                return _redis_depths_by_priority(channel, [queue.name for queue in TASK_QUEUES])
            return {queue.name: {0: _amqp_depth(connection, queue.name)} for queue in TASK_QUEUES}
    except Exception as error:  # any transport error means: we cannot see the broker now
        logger.warning("cannot read the broker's queues: %s", error)
        return None


def _is_redis(channel) -> bool:
    return hasattr(channel, "_q_for_pri") and hasattr(channel, "client")


def _redis_depths_by_priority(channel, queue_names: list[str]) -> dict[str, dict[int, int]]:
    """queue -> {our priority 1..10: messages waiting}, read in one pipelined round trip."""
    keys = [(name, step) for name in queue_names for step in channel.priority_steps]
    pipe = channel.client.pipeline(transaction=False)
    for name, step in keys:
        pipe.llen(channel._q_for_pri(name, step))
    depths: dict[str, dict[int, int]] = {name: {} for name in queue_names}
    for (name, step), waiting in zip(keys, pipe.execute(), strict=True):
        depths[name][step + 1] = int(waiting)
    return depths


def _amqp_depth(connection, name: str) -> int:
    """Messages ready in one RabbitMQ queue, read with a passive declare so that reading never creates or
    changes a queue. A queue nobody has declared yet reads as empty; the "not found" this raises closes
    the channel, so every queue is read on a channel of its own."""
    channel = connection.channel()
    try:
        return int(channel.queue_declare(queue=name, passive=True).message_count)
    except connection.channel_errors:
        return 0
    finally:
        try:
            channel.close()
        except connection.channel_errors + connection.connection_errors:
            pass  # already closed by the broker's "not found"


def queue_depths() -> dict[str, int] | None:
    """queue -> messages waiting, or None when the broker cannot be reached."""
    by_priority = queue_depths_by_priority()
    if by_priority is None:
        return None
    return {queue: sum(counts.values()) for queue, counts in by_priority.items()}


def messages_waiting(queue: str) -> int | None:
    """Messages waiting in one queue (not yet taken by a worker), or None when the broker cannot be read.

    Cheap enough to ask once per job: one pipelined round trip on Redis, over a pooled connection.
    """
    from celery_app import app

    try:
        with app.pool.acquire(block=True, timeout=2) as connection:
            channel = connection.default_channel
            if _is_redis(channel):
                return sum(_redis_depths_by_priority(channel, [queue])[queue].values())
            return _amqp_depth(connection, queue)
    except Exception as error:  # any transport error means: we cannot see the broker now
        logger.debug("cannot read queue %s: %s", queue, error)
        return None
