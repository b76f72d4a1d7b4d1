"""Analysis as queued work: the job-runner's view of analyze_ticker (indicators, then patterns)."""

from __future__ import annotations

from ingest.models import FetchJob
from ingest.services.jobs import JobOutcome


def analyze_job(job: FetchJob) -> JobOutcome:
    from analysis.services import analyze_ticker

    result = analyze_ticker(
        ticker_id=job.ticker_id, timeframe=job.timeframe, full=bool(job.params.get("full"))
    )
    return JobOutcome(rows_stored=result.rows_written, summary=str(result))
