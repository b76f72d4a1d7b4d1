"""Asking for many jobs at once (a login's tickers, a fetch's analysis follow-ups) keeps request_job's rules:
one active job per (kind, ticker, timeframe), a higher priority moves a queued job up, running jobs stay."""

import pytest

from ingest.models import FetchJob, JobKind, JobStatus, Ticker
from ingest.services.job_requests import request_fetch, request_jobs
from portfolios.tests.factories import make_user
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_creates_the_missing_raises_the_queued_and_leaves_the_running(clean_broker):
    user = make_user("ann")
    new, queued, running = (Ticker.objects.create(symbol=s) for s in ("NEW", "QUE", "RUN"))
    queued_id = request_fetch(ticker=queued, timeframe="daily", reason=Reason.SCHEDULED).job_id
    running_id = request_fetch(ticker=running, timeframe="daily", reason=Reason.SCHEDULED).job_id
    FetchJob.objects.filter(id=running_id).update(status=JobStatus.RUNNING)
    tokens = dict(FetchJob.objects.values_list("id", "dispatch_token"))

    results = request_jobs(
        kind=JobKind.FETCH_BARS,
        pairs=[(new, "daily"), (queued, "daily"), (running, "daily"), (new, "daily")],
        reason=Reason.USER_LOGIN,
        requested_by=user,
    )

    assert [(r.created, r.reprioritised) for r in results] == [
        (True, False),
        (False, True),
        (False, False),
        (True, False),
    ]
    assert results[0].job_id == results[3].job_id  # asked twice, one job
    assert (results[1].job_id, results[2].job_id) == (queued_id, running_id)
    jobs = {job.ticker.symbol: job for job in FetchJob.objects.select_related("ticker")}
    assert len(jobs) == 3
    assert (jobs["NEW"].queue, jobs["NEW"].priority, jobs["NEW"].requested_by) == ("foreground", 1, user)
    assert (jobs["QUE"].queue, jobs["QUE"].priority, jobs["QUE"].reason) == ("foreground", 1, "user_login")
    assert jobs["QUE"].requested_by == user
    assert (jobs["RUN"].queue, jobs["RUN"].priority) == ("background", 5)
    # sent after commit: the new and the moved-up job got a fresh message, the running one did not
    assert jobs["NEW"].published_at is not None
    assert jobs["QUE"].dispatch_token == tokens[queued_id] + 1
    assert jobs["RUN"].dispatch_token == tokens[running_id]


def test_a_lower_priority_batch_changes_nothing(clean_broker):
    ticker = Ticker.objects.create(symbol="IBM")
    first = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.USER_LOGIN)
    again = request_jobs(kind=JobKind.FETCH_BARS, pairs=[(ticker, "daily")], reason=Reason.SCHEDULED)
    assert again[0].job_id == first.job_id and not again[0].created and not again[0].reprioritised
    assert FetchJob.objects.get().priority == 1


def test_timeframes_and_kinds_are_separate_jobs(clean_broker):
    ticker = Ticker.objects.create(symbol="AMD")
    fetches = request_jobs(
        kind=JobKind.FETCH_BARS, pairs=[(ticker, "daily"), (ticker, "weekly")], reason="scheduled"
    )
    analysis = request_jobs(kind=JobKind.COMPUTE_INDICATORS, pairs=[(ticker, "daily")], reason="analysis")
    assert all(r.created for r in fetches + analysis)
    assert FetchJob.objects.count() == 3


def test_a_request_for_more_jobs_than_one_statement_takes_creates_them_all_in_the_order_asked(monkeypatch):
    """Jobs go in INSERT_BATCH_ROWS at a time (bounded statements: SQLite may take only 32,766 parameters),
    and ids still grow in the order asked for (a user's share sends the first ones)."""
    from ingest.services import job_requests

    monkeypatch.setattr(job_requests, "INSERT_BATCH_ROWS", 7)
    Ticker.objects.bulk_create([Ticker(symbol=f"B{i:03d}") for i in range(40)])
    tickers = list(Ticker.objects.order_by("-symbol"))  # asked for in an order unlike the tickers' ids
    results = request_jobs(
        kind=JobKind.FETCH_BARS,
        pairs=[(ticker, "daily") for ticker in tickers],
        reason=Reason.SCHEDULED,
        publish=False,
    )
    assert all(r.created for r in results) and FetchJob.objects.count() == 40
    ids = [r.job_id for r in results]
    assert ids == sorted(ids)
    assert list(FetchJob.objects.order_by("id").values_list("ticker_id", flat=True)) == [
        t.id for t in tickers
    ]
