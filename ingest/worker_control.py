"""Worker side of pausing a queue: two broadcast control commands, and a paused queue not consumed at start.

A worker only ever resumes a queue it was started to consume (-Q), so resuming `background` never makes a
foreground worker take background work.
"""

from __future__ import annotations

import logging

from celery.worker.control import control_command, ok

logger = logging.getLogger(__name__)

# The queues this worker process was started with (-Q), recorded when it is ready.
STARTED_WITH: set[str] = set()


def _consuming(consumer, queue: str) -> bool:
    return bool(consumer.task_consumer and consumer.task_consumer.consuming_from(queue))


@control_command(args=[("queue", str)], signature="<queue>")
def stockhub_pause_queue(state, queue: str, **_) -> dict:
    """Stop consuming `queue` if this worker does; its messages stay in the broker."""
    if not _consuming(state.consumer, queue):
        return ok(f"not consuming {queue}")
    state.consumer.call_soon(state.consumer.cancel_task_queue, queue)
    return ok(f"paused {queue}")


@control_command(args=[("queue", str)], signature="<queue>")
def stockhub_resume_queue(state, queue: str, **_) -> dict:
    """Consume `queue` again, if this worker was started to consume it."""
    if queue not in STARTED_WITH or _consuming(state.consumer, queue):
        return ok(f"nothing to resume for {queue}")
    state.consumer.call_soon(state.consumer.add_task_queue, queue)
    return ok(f"resumed {queue}")


def skip_paused_queues(sender=None, **_signal_kwargs) -> None:
    """worker_ready: remember the -Q queues, and stop consuming those paused in the database."""
    from ingest.services.control import paused_queues

    consumer = sender
    STARTED_WITH.update(consumer.app.amqp.queues.consume_from or {})
    for queue in sorted(paused_queues() & STARTED_WITH):
        consumer.cancel_task_queue(queue)
        logger.warning(
            "queue %s is paused (stored in the database): not consuming it until it is resumed", queue
        )
