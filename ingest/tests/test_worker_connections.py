"""A worker process keeps its PostgreSQL connection from job to job (Celery's Django fixup would open a new one
for every task), and replaces one that the database cut, before the next job's first query."""

from __future__ import annotations

import psutil
import pytest
from django.db import connection

from ingest.models import FetchJob, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from ingest.tests.test_queue_workers import all_ended, wait_until
from stockhub.queues import Reason

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("backend processes per connection are PostgreSQL's (SQLite opens a file)")


def pool_backends(worker) -> set[int]:
    """The PostgreSQL server processes serving the worker's pool processes (matched by client port; the
    worker's main process has a connection of its own, not counted)."""
    port = int(connection.settings_dict.get("PORT") or 5432)
    pool = psutil.Process(worker.pid).children()
    client_ports = [
        c.laddr.port
        for child in pool
        for c in child.net_connections("tcp")
        if c.raddr and c.raddr.port == port
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY(%s)",
            [client_ports],
        )
        return {pid for (pid,) in cursor.fetchall()}


def run_one_at_a_time(symbols: list[str]) -> list[FetchJob]:
    """One message (one task) per job, each sent after the previous ended."""
    jobs = []
    for symbol in symbols:
        ticker = Ticker.objects.create(symbol=symbol)
        job_id = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.USER_REQUEST).job_id
        wait_until(lambda job_id=job_id: all_ended([job_id]), seconds=30, what=f"job {job_id}")
        jobs.append(FetchJob.objects.get(id=job_id))
    return jobs


def test_successive_tasks_share_one_database_connection(workers):
    worker = workers.start("foreground")  # one pool process, warmed up: its connection open before any task
    wait_until(lambda: len(pool_backends(worker)) == 1, seconds=10, what="the warm-up's connection")
    warm_up_backend = pool_backends(worker)

    jobs = run_one_at_a_time(["CONN1", "CONN2", "CONN3", "CONN4"])

    assert {job.status for job in jobs} == {JobStatus.SUCCEEDED}
    # Still the one the warm-up opened: no task closed it (a closed connection's server process exits).
    assert pool_backends(worker) == warm_up_backend


def test_a_connection_cut_between_tasks_is_replaced_before_the_next_job(workers):
    worker = workers.start("foreground")
    assert run_one_at_a_time(["CUT1"])[0].status == JobStatus.SUCCEEDED
    cut = pool_backends(worker)
    assert cut
    with connection.cursor() as cursor:  # what a database restart or an idle timeout does to it
        for pid in cut:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    job = run_one_at_a_time(["CUT2"])[0]

    assert (job.status, job.attempts, job.error_code) == (JobStatus.SUCCEEDED, 1, "")
    assert pool_backends(worker).isdisjoint(cut)
