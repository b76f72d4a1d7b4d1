"""Chaos 5: two schedulers fire the same session's pipeline at the same moment: one run starts, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from conftest import ROOT
from ingest.models import PipelineRun
from tests.chaos.audit import Reconciler, audit, jobs_ended, make_universe, run_ended, worker_env
from tests.chaos.conftest import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

SYMBOLS = 20
SCHEDULERS = 4
AFTER_THE_CLOSE = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)  # Wednesday, 16:30 in New York

# What beat's task does (background.start_scheduled_run), in a process of its own, at an agreed instant.
FIRE = """
import json, os, sys, time
from datetime import datetime
import django
django.setup()
from ingest.services.schedule import start_scheduled_run
fire_at, now = float(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
time.sleep(max(0.0, fire_at - time.time()))
result = start_scheduled_run(universe="chaos", phases="import", now=now)
print(json.dumps({"started": result.started, "run_id": result.run_id, "message": result.message}))
"""


def test_schedulers_firing_the_same_session_at_once_start_one_run(stack, market, results):
    symbols = market.symbols[:SYMBOLS]
    make_universe(symbols)
    stack.workers.start("background", concurrency=2, env=worker_env(market))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "stockhub.settings",
        "DATABASE_URL": stack.database_url,
        "CELERY_BROKER_URL": stack.broker_url,
        "REDIS_URL": stack.redis.url(1),
    }
    fire_at = time.time() + 8  # every process has imported Django by then, even on 2 busy cores
    schedulers = [
        subprocess.Popen(
            [sys.executable, "-c", FIRE, str(fire_at), AFTER_THE_CLOSE.isoformat()],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(SCHEDULERS)
    ]
    answers = [
        json.loads(process.communicate(timeout=60)[0].strip().splitlines()[-1]) for process in schedulers
    ]
    started = [answer for answer in answers if answer["started"]]
    assert len(started) == 1, answers
    assert all(
        "exists already" in a["message"] or "already running" in a["message"]
        for a in answers
        if not a["started"]
    ), answers
    run_id = started[0]["run_id"]
    wait_until(lambda: run_ended(run_id) and jobs_ended(), seconds=60, what="the run", tick=Reconciler())
    runs = PipelineRun.objects.filter(session_date=AFTER_THE_CLOSE.date(), trigger="scheduled").count()
    outcome = audit(stack=stack, market=market, symbols=symbols, run_id=run_id)
    results.record(
        key="5-two-schedulers",
        scenario="5. two schedulers at once",
        injected=f"{SCHEDULERS} processes run the scheduled start for one session at the same instant",
        jobs=outcome.jobs,
        lost=outcome.lost,
        duplicated=outcome.duplicated + runs - 1,
        recover_seconds=None,
        notes=f"{runs} run for the session; {SCHEDULERS - 1} schedulers were told it exists "
        "(pipelinerun_one_scheduled_per_session)",
    )
    assert runs == 1
    assert outcome.problems == []
