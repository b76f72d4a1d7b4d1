"""What the broker holds right now, read in one place for the reconciler and the queue statistics."""

from __future__ import annotations

import logging

from stockhub.queues import TASK_QUEUES

logger = logging.getLogger(__name__)


def queue_depths_by_priority() -> dict[str, dict[int, int]] | None:
    """queue -> {our priority 1..10: messages waiting}, or None when the broker cannot be reached.

    On Redis, kombu keeps one list per priority step (`_q_for_pri`), and a list that does not exist is just
    empty. Other brokers only report a total, filed under priority 0; declaring the queue (same arguments
    as the workers use) rather than a passive check means a queue nobody has used yet reads as empty
    instead of closing the channel.
    """
    from celery_app import app

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            if hasattr(channel, "_q_for_pri") and hasattr(channel, "client"):
                return {
                    queue.name: {
                        step + 1: int(channel.client.llen(channel._q_for_pri(queue.name, step)))
                        for step in channel.priority_steps
                    }
                    for queue in TASK_QUEUES
                }
            return {queue.name: {0: queue.bind(channel).queue_declare()[1]} for queue in TASK_QUEUES}
    except Exception as error:  # any transport error means: we cannot see the broker now
        logger.warning("cannot read the broker's queues: %s", error)
        return None


def queue_depths() -> dict[str, int] | None:
    """queue -> messages waiting, or None when the broker cannot be reached."""
    by_priority = queue_depths_by_priority()
    if by_priority is None:
        return None
    return {queue: sum(counts.values()) for queue, counts in by_priority.items()}
