"""Queue names, priorities and routing, defined once: every other module asks here."""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from kombu import Exchange
from kombu import Queue as KombuQueue

from stockhub.config import is_redis_broker


class Queue(StrEnum):
    FOREGROUND = "foreground"
    BACKGROUND = "background"
    ANALYSIS = "analysis"


class Reason(models.TextChoices):
    USER_LOGIN = "user_login", "user logged in"
    USER_REQUEST = "user_request", "user or admin asked"
    SCHEDULED = "scheduled", "scheduled update"
    MANUAL_RUN = "manual_run", "pipeline run started by hand"
    BACKFILL = "backfill", "history backfill"
    ANALYSIS = "analysis", "indicators and patterns"
    MAINTENANCE = "maintenance", "maintenance"


# Why a job exists -> (queue, default priority on our 1 (highest) .. 10 scale).
ROUTING: dict[str, tuple[Queue, int]] = {
    Reason.USER_LOGIN: (Queue.FOREGROUND, 1),
    Reason.USER_REQUEST: (Queue.FOREGROUND, 3),
    Reason.MANUAL_RUN: (Queue.BACKGROUND, 4),
    Reason.SCHEDULED: (Queue.BACKGROUND, 5),
    Reason.BACKFILL: (Queue.BACKGROUND, 6),
    Reason.ANALYSIS: (Queue.ANALYSIS, 8),
    Reason.MAINTENANCE: (Queue.ANALYSIS, 10),
}

# The band of our scale each queue may use; dynamic priorities are clamped into it.
PRIORITY_BANDS: dict[Queue, tuple[int, int]] = {
    Queue.FOREGROUND: (1, 3),
    Queue.BACKGROUND: (4, 6),
    Queue.ANALYSIS: (7, 10),
}


def route(reason: str) -> tuple[Queue, int]:
    """The queue and default priority for a job that exists for `reason`."""
    return ROUTING[Reason(reason)]


def fetch_reason_for_priority(priority: int) -> Reason:
    """The reason a manually prioritised fetch is filed under: 1-3 a user request, 4-6 a scheduled update."""
    if PRIORITY_BANDS[Queue.FOREGROUND][0] <= priority <= PRIORITY_BANDS[Queue.FOREGROUND][1]:
        return Reason.USER_REQUEST
    if PRIORITY_BANDS[Queue.BACKGROUND][0] <= priority <= PRIORITY_BANDS[Queue.BACKGROUND][1]:
        return Reason.SCHEDULED
    raise ValueError(f"a fetch takes priority 1-6 (1-3 foreground, 4-6 background), got {priority}")


def broker_priority(priority: int, *, broker_url: str | None = None) -> int:
    """Our 1 (highest) .. 10 scale onto the broker's, which depends on the transport (default: the
    configured CELERY_BROKER_URL):

    Redis: kombu's priority steps 0..9, where 0 is served first -> priority - 1.
    RabbitMQ: the queues' x-max-priority=10 range, where the HIGHEST number is served first -> 10 - priority.
    Either way our 1 goes first and our 10 last, and the result lies in 0..9.
    """
    if not 1 <= priority <= 10:
        raise ValueError(f"priority must be 1..10, got {priority}")
    if broker_url is None:
        from django.conf import settings

        broker_url = settings.CELERY_BROKER_URL
    return priority - 1 if is_redis_broker(broker_url) else 10 - priority


# Task names start with their lane, so routing is by name and Flower shows the lane at a glance.
TASK_ROUTES = {f"{queue}.*": {"queue": str(queue)} for queue in Queue}

# Each queue has its own direct exchange (without one, kombu binds all three to the default queue's exchange).
# RabbitMQ needs the priority range declared on the queue; Redis ignores the argument.
TASK_QUEUES = [
    KombuQueue(
        str(queue),
        Exchange(str(queue), type="direct"),
        routing_key=str(queue),
        queue_arguments={"x-max-priority": 10},
    )
    for queue in Queue
]


# The reasons whose jobs, when nobody gave a priority, are placed in their band by the ticker's stored factors
# (ingest/services/urgency.py). Foreground keeps its fixed reasons (login 1, user request 3): a waiting person
# comes first, whatever the ticker; so does a pipeline run a person started (4) and maintenance (10).
DYNAMIC_PRIORITY_REASONS = frozenset({Reason.SCHEDULED, Reason.BACKFILL, Reason.ANALYSIS})
DYNAMIC_PRIORITY_QUEUES = frozenset(ROUTING[reason][0] for reason in DYNAMIC_PRIORITY_REASONS)

# Default weights of the dynamic priority inside a queue's band; STOCKHUB_PRIORITY_WEIGHTS overrides them.
PRIORITY_WEIGHTS = {"activity": 0.4, "value": 0.3, "age": 0.2, "volatility": 0.1}


def dynamic_priority(
    queue: Queue,
    *,
    activity: float,
    value: float,
    age: float,
    volatility: float,
    weights: dict[str, float] | None = None,
) -> int:
    """A priority inside `queue`'s band from four factors, each 0..1 (1 = most urgent):

    score = 0.4·activity + 0.3·value + 0.2·age + 0.1·volatility
    priority = band_low + round((1 − score) · (band_high − band_low))

    activity: how recently a holder was active; value: the ticker's share of its holders' portfolio value;
    age: how old the newest bar is, relative to the staleness horizon; volatility: recent realised volatility.
    Factors outside 0..1 are clamped, so a bad input can never leave the band.
    """
    if weights is None:
        from django.conf import settings

        weights = getattr(settings, "STOCKHUB_PRIORITY_WEIGHTS", PRIORITY_WEIGHTS)
    factors = {"activity": activity, "value": value, "age": age, "volatility": volatility}
    score = sum(weights[name] * min(max(factor, 0.0), 1.0) for name, factor in factors.items())
    score = min(max(score, 0.0), 1.0)
    low, high = PRIORITY_BANDS[queue]
    return low + round((1 - score) * (high - low))


# CPU niceness of a worker process by the queue it serves. Separate workers per queue let the operating
# system, not just the broker, put foreground work first: on a busy machine a login's fetch gets the CPU
# ahead of a backlog of background fetches and analysis.
WORKER_NICENESS: dict[Queue, int] = {Queue.FOREGROUND: 0, Queue.BACKGROUND: 10, Queue.ANALYSIS: 15}


def worker_niceness(queue_names: list[str]) -> int:
    """The niceness of a worker consuming `queue_names`: that of its most urgent queue (0 for unknown ones)."""
    return min((WORKER_NICENESS.get(name, 0) for name in queue_names), default=0)  # StrEnum keys match str
