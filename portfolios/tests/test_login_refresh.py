"""Logging in queues foreground fetches for the stale tickers a user holds, once each, without waiting."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from ingest.models import FetchJob, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from portfolios.services import refresh_on_login
from portfolios.tests.factories import make_fresh, make_old_bar, make_portfolio, make_user
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)

# A Saturday: the market is closed, so "stale" means "the last session's bar is missing".
SATURDAY = timezone.make_aware(datetime(2026, 11, 28, 15, 0), UTC)


@pytest.fixture
def unreachable_broker(switch_broker):
    """A broker address where nothing listens: publishing fails at once, like Redis being down."""
    switch_broker("redis://127.0.0.1:6390/0")


def test_login_queues_only_stale_tickers(client, broker_url):
    portfolio = make_portfolio(symbols=["AAPL", "MSFT", "NVDA"])
    make_fresh("MSFT", now=timezone.now(), fetched=True)
    make_old_bar("NVDA", now=timezone.now())
    client.force_login(portfolio.owner)  # sends user_logged_in, like a real login
    jobs = FetchJob.objects.filter(status=JobStatus.QUEUED).order_by("ticker__symbol")
    assert [job.ticker.symbol for job in jobs] == ["AAPL", "NVDA"]
    assert {(job.reason, job.priority, job.queue, job.status) for job in jobs} == {
        ("user_login", 1, "foreground", "queued")
    }
    assert all(job.requested_by == portfolio.owner for job in jobs)


def test_fifty_logins_in_a_row_make_at_most_one_job_per_ticker(client, broker_url):
    portfolio = make_portfolio(symbols=["AAPL", "MSFT"])
    for _ in range(50):
        client.force_login(portfolio.owner)
    assert FetchJob.objects.count() == 2


def test_a_login_moves_a_queued_background_job_up_to_the_foreground(broker_url):
    portfolio = make_portfolio(symbols=["AAPL"])
    ticker = Ticker.objects.get(symbol="AAPL")
    background = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED)
    before = FetchJob.objects.get(id=background.job_id)
    assert (before.queue, before.priority) == ("background", 5)
    refresh_on_login(user=portfolio.owner, now=SATURDAY)
    after = FetchJob.objects.get(id=background.job_id)
    assert FetchJob.objects.count() == 1
    assert (after.queue, after.priority, after.reason) == ("foreground", 1, "user_login")
    assert after.dispatch_token == before.dispatch_token + 1  # the background message is now a no-op


def test_a_lower_priority_request_leaves_the_queued_job_as_it_is(broker_url):
    ticker = Ticker.objects.create(symbol="IBM")
    first = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.USER_LOGIN)
    second = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED)
    assert second.job_id == first.job_id and not second.created and not second.reprioritised
    assert FetchJob.objects.get().priority == 1


def test_other_users_holdings_are_not_refreshed(broker_url):
    mine = make_portfolio(owner=make_user("me"), symbols=["AAPL"])
    make_portfolio(owner=make_user("them"), symbols=["TSLA"])
    refresh_on_login(user=mine.owner, now=SATURDAY)
    assert list(FetchJob.objects.values_list("ticker__symbol", flat=True)) == ["AAPL"]


def test_a_ticker_with_last_sessions_bar_is_fresh_while_the_market_is_closed(broker_url):
    portfolio = make_portfolio(symbols=["AAPL", "MSFT"])
    make_fresh("AAPL", now=SATURDAY)
    refresh_on_login(user=portfolio.owner, now=SATURDAY)
    assert list(FetchJob.objects.values_list("ticker__symbol", flat=True)) == ["MSFT"]


def test_during_market_hours_a_fetch_older_than_the_threshold_is_stale(broker_url):
    monday_open = timezone.make_aware(datetime(2026, 11, 30, 15, 0), UTC)  # 10:00 New York
    portfolio = make_portfolio(symbols=["AAPL", "MSFT"])
    for symbol, minutes_ago in (("AAPL", 10), ("MSFT", 45)):
        make_fresh(symbol, now=monday_open)
        FetchJob.objects.create(
            ticker=Ticker.objects.get(symbol=symbol),
            timeframe="daily",
            reason="scheduled",
            priority=5,
            queue="background",
            status=JobStatus.SUCCEEDED,
            finished_at=monday_open - timedelta(minutes=minutes_ago),
        )
    with override_settings(STOCKHUB_STALENESS_MINUTES=30):
        job_ids = refresh_on_login(user=portfolio.owner, now=monday_open)
    assert list(FetchJob.objects.filter(id__in=job_ids).values_list("ticker__symbol", flat=True)) == ["MSFT"]


def test_a_ticker_the_provider_had_nothing_newer_for_is_not_asked_again_within_the_staleness_window(
    broker_url,
):
    """A delisted or late ticker misses the last session after every fetch; each login must not re-ask."""
    portfolio = make_portfolio(symbols=["DLST", "LATE", "PAST"])
    for symbol, minutes_ago, params in (
        ("DLST", 5, {}),
        ("LATE", 45, {}),
        ("PAST", 5, {"end": "2019-01-01"}),
    ):
        make_old_bar(symbol, now=SATURDAY, days=400)
        FetchJob.objects.create(
            ticker=Ticker.objects.get(symbol=symbol), timeframe="daily", reason="user_login", priority=1,
            queue="foreground", status=JobStatus.SUCCEEDED, params=params,
            finished_at=SATURDAY - timedelta(minutes=minutes_ago),
        )  # fmt: skip
    with override_settings(STOCKHUB_STALENESS_MINUTES=30):
        job_ids = refresh_on_login(user=portfolio.owner, now=SATURDAY)
    # LATE was asked too long ago; PAST's success fetched a past window, which says nothing about today.
    assert sorted(FetchJob.objects.filter(id__in=job_ids).values_list("ticker__symbol", flat=True)) == [
        "LATE",
        "PAST",
    ]


def test_login_succeeds_quickly_and_records_jobs_when_the_broker_is_down(client, unreachable_broker):
    portfolio = make_portfolio(symbols=["AAPL", "MSFT"])
    user = portfolio.owner
    started = time.monotonic()
    logged_in = client.login(username=user.username, password="pw-for-tests-only")  # authenticate + login()
    elapsed = time.monotonic() - started
    assert logged_in
    assert "_auth_user_id" in client.session
    jobs = FetchJob.objects.all()
    assert jobs.count() == 2
    assert all(job.status == JobStatus.QUEUED and job.published_at is None for job in jobs)
    assert elapsed < 5  # generous: the point is that it does not hang on broker retries
