"""Chaos 1: a worker's pool process is killed with SIGKILL mid-task, on each queue in turn, during a
pipeline run and a user's login refresh; the work is redelivered and runs to the end once."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.utils import timezone

from ingest.models import FetchJob, JobStatus, SymbolRunStatus, SymbolStatus
from ingest.services.pipeline import start_pipeline_run
from portfolios.tests.factories import make_portfolio
from tests.chaos.audit import Reconciler, audit, jobs_ended, make_universe, run_ended, worker_env
from tests.chaos.conftest import kill, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

RUN_SYMBOLS = 30
USER_SYMBOLS = 4


def pid_of(claimed_by: str) -> int:
    return int(claimed_by.rpartition(":")[2])


def running_job(queue: str) -> FetchJob | None:
    return FetchJob.objects.filter(queue=queue, status=JobStatus.RUNNING).exclude(claimed_by="").first()


def test_work_cut_short_by_a_killed_worker_on_each_queue_runs_again_once_and_completes(
    stack, market, results
):
    # Every fetch waits 300 ms, as a slow provider would: long enough to be killed in the middle.
    env = worker_env(market, faults="latency_ms=300")
    for queue in ("foreground", "background", "analysis"):
        stack.workers.start(queue, concurrency=2, env=env)
    symbols = market.symbols[:RUN_SYMBOLS]
    held = market.symbols[RUN_SYMBOLS : RUN_SYMBOLS + USER_SYMBOLS]
    user = make_portfolio(symbols=held).owner
    run = start_pipeline_run(universe=make_universe(symbols), trigger="manual")
    Client().force_login(user)  # the login queues the user's foreground fetches
    reconcile = Reconciler()
    killed_jobs = []
    for queue in ("foreground", "background"):
        wait_until(lambda q=queue: running_job(q) is not None, seconds=30, what=f"a running {queue} job")
        job = running_job(queue)
        kill(pid_of(job.claimed_by))
        killed_jobs.append((job.id, timezone.now()))

    def analysis_row():
        return (
            SymbolRunStatus.objects.filter(run_id=run.run_id, status=SymbolStatus.RUNNING)
            .exclude(claimed_by="")
            .first()
        )

    wait_until(
        lambda: analysis_row() is not None, seconds=60, what="an analysis batch running", tick=reconcile
    )
    row = analysis_row()
    kill(pid_of(row.claimed_by))
    killed_at = time.monotonic()
    wait_until(
        lambda: SymbolRunStatus.objects.filter(id=row.id).exclude(claimed_by=row.claimed_by).exists(),
        seconds=60,
        what="the killed batch's symbols taken up again",
        tick=reconcile,
    )
    recovered = {"analysis": time.monotonic() - killed_at}

    wait_until(
        lambda: run_ended(run.run_id) and jobs_ended(),
        seconds=120,
        what="the run and the logins",
        tick=reconcile,
    )
    for (job_id, when), queue in zip(killed_jobs, ("foreground", "background"), strict=True):
        job = FetchJob.objects.get(id=job_id)
        assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)  # ran again, once
        recovered[queue] = (job.finished_at - when).total_seconds()
    outcome = audit(stack=stack, market=market, symbols=symbols + held, run_id=run.run_id)
    results.record(
        key="1-worker-killed",
        scenario="1. worker killed mid-task (each queue in turn)",
        injected="SIGKILL of the pool process running a foreground job, a background job, an analysis batch",
        jobs=outcome.jobs,
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        recover_seconds=round(max(recovered.values()), 1),
        notes="kill -> the job's second attempt done: "
        + ", ".join(f"{queue} {seconds:.1f} s" for queue, seconds in recovered.items() if queue != "analysis")
        + f"; kill -> the batch's symbols taken up again: {recovered['analysis']:.1f} s",
    )
    assert outcome.problems == []
