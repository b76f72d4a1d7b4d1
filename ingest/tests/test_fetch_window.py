"""A fetch job asks the provider from its newest stored bar (less the overlap), read with the job's claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.models import Bar, FetchJob, Ticker
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import claim_job, fetch_window
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 2, 21, tzinfo=UTC)


def stored_daily_bars(ticker: Ticker, days: list[datetime]) -> None:
    Bar.objects.bulk_create(
        Bar(
            ticker=ticker, timeframe="daily", ts=day, open=1, high=2, low=1, close=2, volume=10, source="test"
        )
        for day in days
    )


def claimed(ticker: Ticker, timeframe: str) -> FetchJob:
    job_id = request_fetch(ticker=ticker, timeframe=timeframe, reason=Reason.USER_REQUEST).job_id
    token = FetchJob.objects.values_list("dispatch_token", flat=True).get(id=job_id)
    job = claim_job(job_id=job_id, token=token)
    assert job is not None
    return job


def test_the_claim_reads_the_newest_bar_of_the_jobs_own_ticker_and_timeframe(settings, clean_broker):
    settings.STOCKHUB_FETCH_OVERLAP_DAYS = 3
    ticker, other = Ticker.objects.create(symbol="NEW"), Ticker.objects.create(symbol="OTHER")
    newest = datetime(2026, 2, 20, tzinfo=UTC)
    stored_daily_bars(ticker, [newest - timedelta(days=2), newest, newest - timedelta(days=1)])
    stored_daily_bars(other, [datetime(2026, 2, 27, tzinfo=UTC)])  # newer, but another ticker's
    Bar.objects.create(
        ticker=ticker, timeframe="weekly", ts=datetime(2026, 2, 23, tzinfo=UTC), open=1, high=2, low=1,
        close=2, volume=10, source="derived",
    )  # fmt: skip

    job = claimed(ticker, "daily")
    assert job.newest_bar_ts == newest and job.newest_bar_ts.tzinfo is not None
    assert fetch_window(job=job, now=NOW) == (newest - timedelta(days=3), NOW)
    # the same window as a job read without the claim's column (the query it saves)
    assert fetch_window(job=FetchJob.objects.get(id=job.id), now=NOW) == (newest - timedelta(days=3), NOW)


def test_a_ticker_with_no_stored_bars_is_fetched_for_its_whole_lookback(settings, clean_broker):
    settings.STOCKHUB_LOOKBACK_DAYS = {"hourly": 30, "daily": 400, "weekly": 400, "monthly": 400}
    job = claimed(Ticker.objects.create(symbol="EMPTY"), "hourly")
    assert job.newest_bar_ts is None
    assert fetch_window(job=job, now=NOW) == (NOW - timedelta(days=30), NOW)
