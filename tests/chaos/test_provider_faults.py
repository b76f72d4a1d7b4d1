"""Chaos 4: the provider fails a fifth of all calls with timeouts and 429s and returns broken rows for some
symbols, during a whole pipeline run."""

from __future__ import annotations

import time

import pytest

from ingest.models import FetchJob
from ingest.services.pipeline import start_pipeline_run
from tests.chaos.audit import Reconciler, audit, make_universe, run_ended, worker_env
from tests.chaos.conftest import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

SYMBOLS = 40
FAIL_RATE = 0.2
# 0.2 ** 8: a symbol fails all its attempts about 3 times in a million, so the run is not flaky.
MAX_ATTEMPTS = 8


def test_a_flaky_provider_costs_retries_not_data_and_bad_rows_fail_only_their_symbols(stack, market, results):
    symbols = market.symbols[:SYMBOLS]
    bad = symbols[5:7]
    faults = f"fail_rate={FAIL_RATE};bad_rows={','.join(bad)}"
    env = worker_env(market, faults=faults, STOCKHUB_JOB_MAX_ATTEMPTS=str(MAX_ATTEMPTS))
    stack.workers.start("background", concurrency=2, env=env)
    stack.workers.start("analysis", concurrency=2, env=env)
    started = time.monotonic()
    run = start_pipeline_run(universe=make_universe(symbols), trigger="manual")
    wait_until(lambda: run_ended(run.run_id), seconds=120, what="the run", tick=Reconciler())
    took = time.monotonic() - started
    outcome = audit(
        stack=stack,
        market=market,
        symbols=symbols,
        run_id=run.run_id,
        expected_failures=dict.fromkeys(bad, "VALIDATION_FAILED"),
    )
    retried = FetchJob.objects.filter(attempts__gt=1).count()
    attempts = sum(FetchJob.objects.values_list("attempts", flat=True))
    results.record(
        key="4-provider-faults",
        scenario="4. flaky provider",
        injected=f"{FAIL_RATE:.0%} of calls time out or answer 429 (Retry-After 1 s); every row of "
        f"{len(bad)} symbols broken",
        jobs=outcome.jobs,
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        recover_seconds=None,
        notes=f"{retried} of {SYMBOLS} imports retried ({attempts} calls); the {len(bad)} broken symbols "
        f"failed VALIDATION_FAILED at once, the run ended completed_with_errors in {took:.0f} s",
    )
    assert outcome.problems == []
    assert retried > 0  # the faults really happened
