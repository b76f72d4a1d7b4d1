"""Chaos 2 and 3: the broker (Redis) and the database (PostgreSQL) restart in the middle of a pipeline run.
Both are the suite's private servers (tests/chaos/conftest.py); the shared ones are never touched."""

from __future__ import annotations

import time

import pytest

from ingest.models import FetchJob, JobStatus, PipelineRun, SymbolRunStatus, SymbolStatus
from ingest.services.pipeline import start_pipeline_run
from tests.chaos.audit import Reconciler, audit, make_universe, run_ended, worker_env
from tests.chaos.conftest import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

SYMBOLS = 40


def imported(run_id: int) -> int:
    return FetchJob.objects.filter(run_symbols__run_id=run_id, status=JobStatus.SUCCEEDED).count()


def test_a_redis_restart_that_loses_every_queued_message_mid_run_loses_no_work(stack, market, results):
    env = worker_env(market, faults="latency_ms=150")
    stack.workers.start("background", concurrency=2, env=env)
    stack.workers.start("analysis", concurrency=2, env=env)
    symbols = market.symbols[:SYMBOLS]
    run = start_pipeline_run(universe=make_universe(symbols), trigger="manual")
    wait_until(lambda: imported(run.run_id) >= SYMBOLS // 4, seconds=60, what="a quarter of the imports")
    stack.redis.restart()  # SIGKILL and start again: the queues, the unacked messages, everything is gone
    restarted = time.monotonic()
    waited = wait_until(
        lambda: run_ended(run.run_id), seconds=120, what="the run after the restart", tick=Reconciler()
    )
    outcome = audit(stack=stack, market=market, symbols=symbols, run_id=run.run_id)
    results.record(
        key="2-redis-restarted",
        scenario="2. Redis restarted mid-run (its data lost)",
        injected=f"redis-server SIGKILLed and started empty after {SYMBOLS // 4} of {SYMBOLS} imports",
        jobs=outcome.jobs,
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        recover_seconds=round(time.monotonic() - restarted, 1),
        notes=f"the reconciler re-sent the lost messages ({waited:.0f} s to the run's end, "
        f"re-send after {4} s of silence instead of 120 s)",
    )
    assert outcome.problems == []


def test_a_postgresql_restart_mid_run_is_retried_and_leaves_no_half_written_symbol(stack, market, results):
    env = worker_env(market, faults="latency_ms=150")
    stack.workers.start("background", concurrency=2, env=env)
    stack.workers.start("analysis", concurrency=2, env=env)
    symbols = market.symbols[:SYMBOLS]
    run = start_pipeline_run(universe=make_universe(symbols), trigger="manual")
    reconcile = Reconciler()
    wait_until(lambda: imported(run.run_id) >= SYMBOLS // 4, seconds=60, what="a quarter of the imports")
    stack.postgres.restart()  # fast shutdown: every connection is cut, transactions in flight roll back
    first_restart = time.monotonic()
    wait_until(
        lambda: PipelineRun.objects.get(id=run.run_id).current_phase != "import",
        seconds=90,
        what="the import phase to end",
        tick=reconcile,
    )
    wait_until(
        lambda: (
            SymbolRunStatus.objects.filter(run_id=run.run_id, status=SymbolStatus.RUNNING).exists()
            or run_ended(run.run_id)
        ),
        seconds=60,
        what="an analysis batch running",
        tick=reconcile,
    )
    stack.postgres.restart()  # and again while analysis batches write
    wait_until(lambda: run_ended(run.run_id), seconds=120, what="the run after the restarts", tick=reconcile)
    outcome = audit(stack=stack, market=market, symbols=symbols, run_id=run.run_id)
    retried = FetchJob.objects.filter(attempts__gt=1).count()
    results.record(
        key="3-postgres-restarted",
        scenario="3. PostgreSQL restarted mid-run (twice)",
        injected="pg_ctl restart -m fast during the import phase, then during the analysis phases",
        jobs=outcome.jobs,
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        recover_seconds=round(time.monotonic() - first_restart, 1),
        notes=f"{retried} import jobs took a second attempt; every symbol's daily, weekly and monthly bars "
        "complete (volumes add up)",
    )
    assert outcome.problems == []
