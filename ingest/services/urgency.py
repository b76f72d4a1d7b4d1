"""The producer of the dynamic priority: stores each ticker's urgency factors (a beat task, off the hot path)
and turns the stored factors into a job's priority inside its queue's band, without a query."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ingest.models import Ticker
from ingest.urgency import PriorityFactors, priority_factors
from stockhub.queues import DYNAMIC_PRIORITY_QUEUES, PRIORITY_BANDS, Queue, dynamic_priority

logger = logging.getLogger(__name__)

URGENCY_FIELDS = [
    "urgency_activity",
    "urgency_value",
    "urgency_age",
    "urgency_volatility",
    "urgency_computed_at",
]
# One UPDATE ... CASE per 500 tickers: an S&P 500 universe in one statement, 10,000 tickers in 20.
UPDATE_BATCH = 500


@dataclass(frozen=True)
class PriorityRefresh:
    tickers: int
    computed_at: datetime
    # queue -> priority -> how many tickers a job without an explicit priority would now get it for
    priorities: dict[str, dict[int, int]]

    def as_dict(self) -> dict:
        return {
            "tickers": self.tickers,
            "computed_at": self.computed_at.isoformat(),
            "priorities": {
                queue: {str(p): n for p, n in counts.items()} for queue, counts in self.priorities.items()
            },
        }


def refresh_priority_factors(*, now: datetime | None = None) -> PriorityRefresh:
    """Recompute and store every ticker's urgency factors at `now` (default: now).

    A few bulk reads and one UPDATE per 500 tickers, in one transaction; running it twice with the same data
    stores the same factors. A ticker created meanwhile keeps default priorities until the next refresh.
    """
    now = now or timezone.now()
    factors = priority_factors(now=now)
    rows = [
        Ticker(
            id=ticker_id,
            urgency_activity=f.activity,
            urgency_value=f.value,
            urgency_age=f.age,
            urgency_volatility=f.volatility,
            urgency_computed_at=now,
        )
        for ticker_id, f in factors.items()
    ]
    with transaction.atomic():
        Ticker.objects.bulk_update(rows, URGENCY_FIELDS, batch_size=UPDATE_BATCH)
    result = PriorityRefresh(tickers=len(rows), computed_at=now, priorities=_priority_counts(factors))
    logger.info("priority factors of %s tickers refreshed: %s", result.tickers, result.priorities)
    return result


def stored_priority(*, ticker: Ticker, queue: Queue) -> int | None:
    """dynamic_priority in `queue`'s band from the factors stored on `ticker`; None when never computed.

    No query for a ticker loaded whole (the factors are its own fields); one if they were deferred.
    """
    if ticker.get_deferred_fields() & set(URGENCY_FIELDS):
        ticker.refresh_from_db(fields=URGENCY_FIELDS)
    if ticker.urgency_computed_at is None:
        return None
    return dynamic_priority(
        queue,
        activity=ticker.urgency_activity,
        value=ticker.urgency_value,
        age=ticker.urgency_age,
        volatility=ticker.urgency_volatility,
    )


def _priority_counts(factors: dict[int, PriorityFactors]) -> dict[str, dict[int, int]]:
    counts = {}
    for queue in sorted(DYNAMIC_PRIORITY_QUEUES, key=lambda q: PRIORITY_BANDS[q]):
        by_priority = Counter(dynamic_priority(queue, **f.as_dict()) for f in factors.values())
        low, high = PRIORITY_BANDS[queue]
        counts[str(queue)] = {p: by_priority[p] for p in range(low, high + 1)}
    return counts
