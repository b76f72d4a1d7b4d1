"""A foreground process that ends one of a user's jobs runs the user's next one itself, claimed in the same
step that frees the slot, when no other foreground message waits (ingest.services.jobs.HAND_OVER_SECONDS);
a job taken so whose process dies is put back by the reconciler at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from django.utils import timezone

from celery_app import app
from ingest.models import FetchJob, JobStatus, Ticker
from ingest.services.jobs import release_user_slot, worker_id
from ingest.services.reconcile import reconcile_jobs
from ingest.tests.test_queue_workers import all_ended, wait_until
from portfolios.services import refresh_on_login
from portfolios.tests.factories import make_portfolio, make_user
from stockhub.queues import Queue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def share_of_three(settings):
    settings.STOCKHUB_FOREGROUND_JOBS_PER_USER = 3


def purge_foreground() -> None:
    """The messages sent so far are gone from the queue, as once workers have taken them."""
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(Queue.FOREGROUND)


def end(job_id: int, *, hand_over: bool) -> FetchJob | None:
    FetchJob.objects.filter(id=job_id).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    return release_user_slot(job=FetchJob.objects.get(id=job_id), hand_over=hand_over)


def test_the_next_job_is_taken_here_only_while_no_other_foreground_message_waits(clean_broker):
    jobs = refresh_on_login(user=make_portfolio(symbols=[f"H{i}" for i in range(6)]).owner)
    assert len(jobs) == 6  # three sent, three waiting for the share

    # The login's other messages still wait in the queue: they go first, so the next job is sent.
    assert end(jobs[0], hand_over=True) is None
    assert FetchJob.objects.get(id=jobs[3]).published_at is not None

    purge_foreground()
    taken = end(jobs[1], hand_over=True)
    assert taken is not None and taken.id == jobs[4]
    stored = Ticker.objects.get(id=taken.ticker_id)  # read with the job, in the same query
    assert [getattr(taken.ticker, f.attname) for f in Ticker._meta.concrete_fields] == [
        getattr(stored, f.attname) for f in Ticker._meta.concrete_fields
    ]
    row = FetchJob.objects.get(id=jobs[4])
    assert (row.status, row.claimed_by, row.attempts, row.published_at) == (
        JobStatus.RUNNING,
        worker_id(),
        1,
        None,  # no message: it runs here
    )
    assert row.started_at is not None and row.lease_expires_at is not None
    # Never more than the share: jobs[2], jobs[3] and the one taken are in flight, so jobs[5] waits.
    assert FetchJob.objects.get(id=jobs[5]).published_at is None

    # Without hand_over (a background lane, the web process) the next job is always sent.
    FetchJob.objects.filter(id=jobs[4]).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    assert end(jobs[2], hand_over=False) is None
    assert FetchJob.objects.get(id=jobs[5]).published_at is not None


def test_a_paused_foreground_queue_hands_nothing_over(clean_broker):
    from ingest.services.control import pause_queue

    jobs = refresh_on_login(user=make_portfolio(symbols=[f"P{i}" for i in range(4)]).owner)
    purge_foreground()
    pause_queue(queue=Queue.FOREGROUND, reason="test")
    assert end(jobs[0], hand_over=True) is None
    assert FetchJob.objects.get(id=jobs[3]).status == JobStatus.QUEUED


def test_the_reconciler_puts_back_a_job_whose_process_on_this_host_is_gone(clean_broker):
    (job_id,) = refresh_on_login(user=make_portfolio(symbols=["GONE"]).owner)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead = f"{worker_id().rpartition(':')[0]}:{int(ended.stdout)}"
    alive = worker_id()  # this process: its jobs stay as they are
    (other_id,) = refresh_on_login(user=make_portfolio(owner=make_user("bob"), symbols=["LIVE"]).owner)
    lease = timezone.now() + timezone.timedelta(minutes=5)  # neither lease has passed
    FetchJob.objects.filter(id=job_id).update(
        status=JobStatus.RUNNING, claimed_by=dead, lease_expires_at=lease
    )
    FetchJob.objects.filter(id=other_id).update(
        status=JobStatus.RUNNING, claimed_by=alive, lease_expires_at=lease
    )

    result = reconcile_jobs()

    assert result.requeued_from_dead_workers == 1
    job = FetchJob.objects.get(id=job_id)
    assert job.status == JobStatus.QUEUED and job.published_at is not None  # and sent again at once
    assert FetchJob.objects.get(id=other_id).status == JobStatus.RUNNING


@pytest.mark.slow
@pytest.mark.queues
def test_a_login_beyond_the_workers_first_messages_runs_without_messages(workers):
    # Each fetch waits 300 ms first, so the three messages are surely taken before the first job ends.
    workers.start("foreground", concurrency=3, env={"STOCKHUB_SYNTHETIC_LATENCY_MS": "300"})
    jobs = refresh_on_login(user=make_portfolio(symbols=[f"W{i:02d}" for i in range(8)]).owner)
    wait_until(lambda: all_ended(jobs), seconds=60, what="the login's jobs")
    rows = FetchJob.objects.filter(id__in=jobs)
    assert set(rows.values_list("status", "attempts")) == {(JobStatus.SUCCEEDED, 1)}
    # The three processes take the login's three messages; nothing else waits, so each end takes the next
    # (two ends at the same moment free two places: the first takes one and sends the other).
    handed = set(rows.filter(celery_task_id="").values_list("id", flat=True))
    assert handed <= set(jobs[3:]) and len(handed) >= 3
    ordered = list(rows.order_by("started_at").values_list("id", flat=True))
    assert ordered[3:] == sorted(ordered[3:])  # taken in the order asked for


@pytest.mark.slow
@pytest.mark.queues
def test_a_taken_over_job_whose_process_is_killed_runs_again_once(workers):
    workers.start("foreground", concurrency=3, env={"STOCKHUB_SYNTHETIC_LATENCY_MS": "1500"})
    jobs = refresh_on_login(user=make_portfolio(symbols=[f"K{i}" for i in range(4)]).owner)
    # Three processes take the three messages; the first to finish takes the fourth job without one.
    wait_until(
        lambda: FetchJob.objects.filter(id=jobs[3], status=JobStatus.RUNNING).exists(),
        seconds=30,
        what="the fourth job taken over",
    )
    job = FetchJob.objects.get(id=jobs[3])
    assert job.celery_task_id == ""
    os.kill(int(job.claimed_by.rpartition(":")[2]), signal.SIGKILL)
    wait_until(
        lambda: reconcile_jobs().requeued_from_dead_workers == 1 or all_ended(jobs),
        seconds=30,
        what="the reconciler to put the job back",
    )
    wait_until(lambda: all_ended(jobs), seconds=60, what="the login's jobs after the kill")
    assert set(FetchJob.objects.filter(id__in=jobs[:3]).values_list("status", "attempts")) == {
        (JobStatus.SUCCEEDED, 1)
    }
    killed = FetchJob.objects.get(id=jobs[3])
    assert (killed.status, killed.attempts) == (JobStatus.SUCCEEDED, 2)
