"""/healthz and /readyz through the web stack, with the real database, the real broker and real workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from ingest.schedules import sync_schedules
from stockhub.health import HEARTBEAT_TASK

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_BROKER = "redis://127.0.0.1:6390/0"  # nothing listens here


def beat_ran(*, seconds_ago: float) -> None:
    """Beat's reconcile entry, as if beat had last sent it `seconds_ago`."""
    sync_schedules()
    PeriodicTask.objects.filter(task=HEARTBEAT_TASK).update(
        last_run_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def test_healthz_answers_ok_without_touching_the_database_or_the_broker(
    client, switch_broker, django_assert_num_queries
):
    switch_broker(DEAD_BROKER)
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.slow
def test_readyz_is_503_naming_the_queue_without_a_worker_and_200_once_every_queue_has_one(client, workers):
    beat_ran(seconds_ago=30)
    workers.start("foreground")
    workers.start("background")

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["workers"]["ok"] is False
    assert body["checks"]["workers"]["error"] == "no worker consumes: analysis"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"database", "broker", "beat"}

    workers.start("analysis")
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "workers", "beat"}
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())
    assert all(len(names) == 1 for names in body["checks"]["workers"]["workers"].values())
    assert body["checks"]["broker"]["depths"] == {"foreground": 0, "background": 0, "analysis": 0}


@override_settings(STOCKHUB_READYZ_WORKER_TIMEOUT_SECONDS=0.2)
def test_readyz_is_503_naming_the_broker_when_it_is_down(client, switch_broker):
    beat_ran(seconds_ago=30)
    switch_broker(DEAD_BROKER)

    response = client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert "broker unreachable" in checks["broker"]["error"]
    assert checks["workers"] == {"ok": False, "ms": 0.0, "error": "not checked: the broker is unreachable"}
    assert checks["database"]["ok"] is True
    assert checks["beat"]["ok"] is True


@override_settings(STOCKHUB_READYZ_WORKER_TIMEOUT_SECONDS=0.2, STOCKHUB_BEAT_HEARTBEAT_MAX_AGE_SECONDS=180)
def test_readyz_is_503_when_beat_has_not_sent_the_reconcile_task_recently(client, clean_broker):
    beat_ran(seconds_ago=600)

    response = client.get("/readyz")

    assert response.status_code == 503
    beat = response.json()["checks"]["beat"]
    assert beat["ok"] is False
    assert beat["max_age_seconds"] == 180
    assert 600 <= beat["age_seconds"] < 660
    assert beat["error"].startswith(f"beat last sent {HEARTBEAT_TASK} ") and beat["error"].endswith(
        "(limit 180 s)"
    )


@override_settings(STOCKHUB_READYZ_WORKER_TIMEOUT_SECONDS=0.2)
def test_readyz_is_503_when_no_enabled_schedule_sends_the_reconcile_task(client, clean_broker):
    beat_ran(seconds_ago=30)
    PeriodicTask.objects.filter(task=HEARTBEAT_TASK).update(enabled=False)

    beat = client.get("/readyz").json()["checks"]["beat"]

    assert beat["ok"] is False
    assert beat["error"] == f"no enabled periodic task runs {HEARTBEAT_TASK} (migrate creates one)"
