"""A fetch job's row records its outcome: bars stored, bars rejected and why, when it started and ended."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.models import Bar, FetchJob, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import run_fetch_job
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_fetch_job_with_some_bad_rows_stores_the_rest_and_counts_the_rest_by_reason(
    settings, tmp_path, clean_broker
):
    path = tmp_path / "bars.csv"
    path.write_text(
        "symbol,date,open,high,low,close,volume\n"
        "OUT,2024-01-02,10,11,9,10.5,1000\n"
        "OUT,2024-01-03,10,11,9,-10.5,1000\n"  # a negative close
        "OUT,2024-01-04,10,9,11,10,1000\n"  # high below low
        "OUT,2024-01-05,10,12,9,11,1200\n"
        "OUT,2024-01-08,10,13,9,12,1300\n"
        "OUT,2024-01-09,10,8,9,10,1000\n"  # high below low again
    )
    settings.STOCKHUB_PROVIDER, settings.STOCKHUB_CSV_PATH = "csv", str(path)
    ticker = Ticker.objects.create(symbol="OUT")
    job_id = request_fetch(
        ticker=ticker,
        timeframe="daily",
        reason=Reason.USER_REQUEST,
        params={"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-31T00:00:00+00:00"},
    ).job_id
    token = FetchJob.objects.values_list("dispatch_token", flat=True).get(id=job_id)

    run_fetch_job(job_id=job_id, token=token)

    job = FetchJob.objects.get(id=job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert (job.rows_stored, job.rows_rejected) == (3, 3)
    assert job.rejected_by_reason == {"non_positive_price": 1, "high_below_low": 2}
    assert (job.error_code, job.error_message, job.lease_expires_at) == ("", "", None)
    assert job.started_at <= job.finished_at <= datetime.now(UTC)
    assert Bar.objects.filter(ticker=ticker, timeframe="daily").count() == 3
