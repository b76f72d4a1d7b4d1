"""A user's share of the foreground lane: only as many of their jobs are sent as may run at once; each end
of one sends the next, and a second user's login is not queued behind the first user's whole refresh."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ingest.models import FetchJob, JobStatus
from ingest.services.jobs import cancel_jobs, release_user_slot
from ingest.services.reconcile import reconcile_jobs
from ingest.tests.test_pipeline_run import Subscriber
from ingest.tests.test_queue_workers import all_ended, wait_until
from portfolios.services import refresh_on_login
from portfolios.tests.factories import make_portfolio, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def share_of_three(settings):
    settings.STOCKHUB_FOREGROUND_JOBS_PER_USER = 3  # the default, which the workers started here keep too


def sent(job_ids: list[int]) -> list[int]:
    return list(
        FetchJob.objects.filter(id__in=job_ids, published_at__isnull=False)
        .order_by("id")
        .values_list("id", flat=True)
    )


def end(job_id: int) -> FetchJob:
    """The job ran and succeeded (its work is beside the point here), then gives back its place."""
    FetchJob.objects.filter(id=job_id).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    job = FetchJob.objects.get(id=job_id)
    release_user_slot(job=job)
    return job


def test_a_login_sends_only_the_users_share_and_each_end_sends_the_next(clean_broker):
    portfolio = make_portfolio(symbols=[f"S{i}" for i in range(7)])
    subscriber = Subscriber(patterns=["stockhub:jobs:status"])
    jobs = refresh_on_login(user=portfolio.owner)
    assert len(jobs) == 7
    assert sent(jobs) == jobs[:3]  # in the order asked for; the other four wait unsent, still queued
    assert set(FetchJob.objects.filter(id__in=jobs).values_list("status", flat=True)) == {JobStatus.QUEUED}
    announced = {body["payload"]["job_id"]: body["payload"]["status"] for _, body in subscriber.close()}
    assert announced == dict.fromkeys(jobs, "queued")  # pages see all seven waiting, sent or not

    end(jobs[0])
    assert sent(jobs) == [*jobs[:3], jobs[3]]
    cancel_jobs(job_ids=[jobs[1]])  # a sent job cancelled also gives its place back
    assert sent(jobs) == [*jobs[:3], *jobs[3:5]]
    assert FetchJob.objects.get(id=jobs[1]).status == JobStatus.CANCELLED


def test_a_second_login_of_the_same_user_sends_nothing_while_the_share_is_full(clean_broker):
    portfolio = make_portfolio(symbols=["A1", "A2", "A3"])
    first = refresh_on_login(user=portfolio.owner)
    assert sent(first) == first
    make_portfolio(owner=portfolio.owner, name="More", symbols=["B1", "B2"])
    second = [job for job in refresh_on_login(user=portfolio.owner) if job not in first]
    assert len(second) == 2 and sent(second) == []


def test_the_reconciler_sends_a_users_waiting_jobs_only_as_far_as_the_share_allows(clean_broker):
    portfolio = make_portfolio(symbols=[f"R{i}" for i in range(6)])
    jobs = refresh_on_login(user=portfolio.owner)
    assert reconcile_jobs().republished == 0  # three in flight: the others wait for those to end
    # The three end without handing on (say the worker was cut off after writing the outcome).
    FetchJob.objects.filter(id__in=jobs[:3]).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    assert reconcile_jobs().republished == 3
    assert sent(jobs) == jobs


def test_a_refresh_whose_jobs_wait_for_the_share_does_not_report_the_broker_down(clean_broker):
    from ingest.models import Ticker
    from ingest.services.refresh import request_refresh
    from stockhub.queues import Reason

    portfolio = make_portfolio(symbols=[f"Q{i}" for i in range(5)])
    result = request_refresh(
        pairs=[(ticker, "daily") for ticker in Ticker.objects.order_by("symbol")],
        reason=Reason.USER_REQUEST,
        requested_by=portfolio.owner,
        run_here_if_broker_down=True,
    )
    assert (result.broker_reachable, result.ran_here, result.waiting_for_broker) == (True, [], [])
    assert len(sent(result.job_ids)) == 3


def test_asking_again_for_jobs_that_wait_for_a_share_neither_reports_the_broker_down_nor_runs_them_here(
    clean_broker,
):
    from ingest.models import Ticker
    from ingest.services.refresh import request_refresh
    from stockhub.queues import Reason

    portfolio = make_portfolio(symbols=[f"W{i}" for i in range(5)])
    first = refresh_on_login(user=portfolio.owner)
    waiting = [job for job in first if job not in sent(first)]
    assert len(waiting) == 2
    pairs = [
        (ticker, "daily") for ticker in Ticker.objects.filter(symbol__in=["W3", "W4"]).order_by("symbol")
    ]
    # The same user asks again, then another user asks for the same tickers (their jobs are joined).
    for user in (portfolio.owner, make_user(username="second")):
        result = request_refresh(
            pairs=pairs, reason=Reason.USER_REQUEST, requested_by=user, run_here_if_broker_down=True
        )
        assert sorted(result.job_ids) == sorted(waiting)
        assert (result.broker_reachable, result.ran_here, result.waiting_for_broker) == (True, [], [])
    assert set(FetchJob.objects.filter(id__in=waiting).values_list("status", flat=True)) == {JobStatus.QUEUED}
    end(first[0])  # the first user's share has room again: the first of them goes out
    assert sent(waiting) == waiting[:1]


def test_an_unsent_job_whose_user_has_room_is_still_reported_as_waiting_for_the_broker(clean_broker):
    from ingest.models import Ticker
    from ingest.services.refresh import request_refresh
    from stockhub.queues import Reason

    portfolio = make_portfolio(symbols=["U1"])
    [job_id] = refresh_on_login(user=portfolio.owner)
    FetchJob.objects.filter(id=job_id).update(published_at=None)  # its message never reached the broker
    result = request_refresh(
        pairs=[(Ticker.objects.get(symbol="U1"), "daily")],
        reason=Reason.USER_LOGIN,
        requested_by=portfolio.owner,
    )
    assert (result.broker_reachable, result.waiting_for_broker) == (False, [job_id])


@pytest.mark.slow
@pytest.mark.queues
def test_a_second_users_login_is_not_queued_behind_the_first_users_whole_refresh(workers):
    workers.start("foreground", concurrency=1, env={"STOCKHUB_SYNTHETIC_LATENCY_MS": "150"})
    first_user = make_portfolio(owner=make_user("first"), symbols=[f"F{i:02d}" for i in range(12)]).owner
    second_user = make_portfolio(owner=make_user("second"), symbols=["SA", "SB", "SC"]).owner
    first = refresh_on_login(user=first_user)
    second = refresh_on_login(user=second_user)
    wait_until(lambda: all_ended(first + second), seconds=90, what="both users' jobs")
    starts = dict(FetchJob.objects.filter(id__in=first + second).values_list("id", "started_at"))
    assert set(FetchJob.objects.filter(id__in=first + second).values_list("status", flat=True)) == {
        JobStatus.SUCCEEDED
    }
    # The second user's three were sent right behind the first user's first three, so they all start
    # before most of the first user's refresh; in one queue of fifteen they would have started last.
    last_of_second = max(starts[job_id] for job_id in second)
    assert sum(1 for job_id in first if starts[job_id] > last_of_second) >= 6
