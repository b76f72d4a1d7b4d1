"""Analysis as queued work: the job-runner's view of analyze_ticker (indicators, then patterns)."""

from __future__ import annotations

from ingest.models import FetchJob
from ingest.services.jobs import JobOutcome


def analyze_job(job: FetchJob) -> JobOutcome:
    """The job's timeframe, or each of params["timeframes"]: a daily fetch asks for one job covering the daily
    bars and the weekly and monthly bars derived from them."""
    from analysis.services import analyze_ticker

    results = [
        analyze_ticker(ticker_id=job.ticker_id, timeframe=timeframe, full=bool(job.params.get("full")))
        for timeframe in job.params.get("timeframes") or [job.timeframe]
    ]
    return JobOutcome(
        rows_stored=sum(result.rows_written for result in results),
        summary="; ".join(str(result) for result in results),
    )
