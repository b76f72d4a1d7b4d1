"""What the job life cycle announces on Redis pub/sub: one `job.status` event each time a job is queued,
starts or ends, so a page can show a person's refresh happening (channel and payload: docs/events.md).

Best effort, like every StockHub event: the job row stays the record, and a Redis that is down costs the
job at most the publisher's short timeout.
"""

from __future__ import annotations

from ingest.models import FetchJob
from stockhub.events import publish_events

JOBS_CHANNEL = "stockhub:jobs:status"
JOB_EVENT = "job.status"
MAX_MESSAGE_CHARS = 300  # the row keeps the whole message; an event only needs enough to read on a page


def publish_job_statuses(*, job_ids: list[int] = (), jobs: list[FetchJob] = (), rows: list[dict] = ()) -> int:
    """One `job.status` event per job with its current status; returns how many went out.

    `job_ids` are read from their rows; `jobs` (FetchJob objects with their ticker loaded, as the caller just
    wrote them) and `rows` (dicts with FIELDS, as just written) are published as they are, saving the read on
    a worker's hot path.
    """
    rows = [*rows, *(_row(job) for job in jobs)]
    if job_ids:
        rows += FetchJob.objects.filter(id__in=job_ids).order_by("id").values(*FIELDS)
    payloads = [
        {
            "job_id": row["id"],
            "kind": row["kind"],
            "symbol": row["ticker__symbol"],
            "timeframe": row["timeframe"],
            "status": row["status"],
            "queue": row["queue"],
            "priority": row["priority"],
            "user_id": row["requested_by_id"],
            "attempts": row["attempts"],
            "error_code": row["error_code"],
            "error_message": row["error_message"][:MAX_MESSAGE_CHARS],
            "progress": row["progress"],
        }
        for row in rows
    ]
    return publish_events(JOBS_CHANNEL, JOB_EVENT, payloads)


FIELDS = (
    "id", "kind", "ticker__symbol", "timeframe", "status", "queue", "priority", "requested_by_id",
    "attempts", "error_code", "error_message", "progress",
)  # fmt: skip


def _row(job: FetchJob) -> dict:
    return {
        field: job.ticker.symbol if field == "ticker__symbol" else getattr(job, field) for field in FIELDS
    }
