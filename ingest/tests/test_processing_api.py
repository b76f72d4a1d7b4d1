"""The pipeline's doors without workers: API triggers and their validation, one run per session, the
schedule (calendar checks and edits that beat picks up), cancel and retry rules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from django_celery_beat.models import PeriodicTask

from ingest.models import PipelineRun, RunStatus, SymbolRunStatus, SymbolStatus
from ingest.services.pipeline import RunConflict, start_pipeline_run
from ingest.services.schedule import DAILY_PIPELINE, start_scheduled_run
from ingest.services.universes import Member, load_universe
from portfolios.tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def universe() -> str:
    load_universe(slug="tiny", members=[Member("AAA"), Member("BBB"), Member("CCC")])
    return "tiny"


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("root", staff=True))
    return client


def post(client, url: str, body) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_only_staff_may_trigger_a_run(client, universe):
    client.force_login(make_user("bob"))
    assert post(client, "/api/processing/trigger-manual", {"universe": universe}).status_code == 403
    assert not PipelineRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"universe": "nope"}, "unknown universe"),
        ({"universe": "tiny", "phases": ["import", "painting"]}, "phases"),
        ({"universe": "tiny", "phases": []}, "phases"),
        ({"universe": "tiny", "timeframe": "yearly"}, "timeframe"),
        ({"universe": "tiny", "phase": ["import"]}, "unknown field"),
        ({"universe": "../../etc/passwd"}, "universe"),
        (["tiny"], "dictionary"),
    ],
)
def test_a_bad_trigger_is_a_400_that_names_the_problem(staff_client, universe, body, field):
    response = post(staff_client, "/api/processing/trigger-manual", body)
    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert not PipelineRun.objects.exists()


def test_malformed_json_is_a_400(staff_client, universe):
    response = staff_client.post(
        "/api/processing/trigger-manual", "{universe:", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_a_second_trigger_while_a_run_is_running_is_a_409_and_starts_nothing(staff_client, universe):
    first = post(staff_client, "/api/processing/trigger-manual", {"universe": universe, "phases": ["import"]})
    assert first.status_code == 202
    run_id = first.json()["run_id"]
    second = post(staff_client, "/api/processing/trigger-manual", {"universe": universe})
    assert second.status_code == 409
    assert str(run_id) in second.json()["error"]
    assert PipelineRun.objects.count() == 1
    status = staff_client.get(f"/api/processing/status/{run_id}").json()
    assert (status["total"], status["percent"], status["phases"]) == (3, 0.0, ["import"])
    assert staff_client.get("/api/processing/status").json()["run_id"] == run_id


def test_unknown_runs_are_404_and_bad_history_days_a_400(staff_client):
    assert staff_client.get("/api/processing/status/999").status_code == 404
    assert staff_client.delete("/api/processing/cancel/999").status_code == 404
    assert staff_client.post("/api/processing/retry/999").status_code == 404
    assert staff_client.get("/api/processing/history?days=abc").status_code == 400
    assert staff_client.get("/api/processing/history?days=100000").status_code == 400


def test_cancel_ends_the_run_and_retry_needs_failed_symbols(staff_client, universe):
    run_id = post(staff_client, "/api/processing/trigger-manual", {"universe": universe}).json()["run_id"]
    assert post(staff_client, f"/api/processing/retry/{run_id}", {}).status_code == 409  # still running
    cancelled = staff_client.delete(f"/api/processing/cancel/{run_id}").json()
    assert cancelled["status"] == RunStatus.CANCELLED
    assert set(SymbolRunStatus.objects.filter(run_id=run_id).values_list("status", flat=True)) == {
        "cancelled"
    }
    retry = post(staff_client, f"/api/processing/retry/{run_id}", {})
    assert retry.status_code == 400 and "no failed symbols" in retry.json()["error"]
    SymbolRunStatus.objects.filter(run_id=run_id, ticker__symbol="BBB").update(status=SymbolStatus.FAILED)
    again = post(staff_client, f"/api/processing/retry/{run_id}", {})
    assert again.status_code == 202 and again.json()["symbols"] == 1
    assert PipelineRun.objects.get(id=again.json()["run_id"]).retry_of_id == run_id
    history = staff_client.get("/api/processing/history?days=1").json()
    assert [run["run_id"] for run in history] == [again.json()["run_id"], run_id]


# 2026: Thanksgiving is Thursday 26 November (closed), Friday 27 November closes early at 13:00 New York.
@pytest.mark.parametrize(
    ("now", "starts"),
    [
        (datetime(2026, 11, 25, 21, 10, tzinfo=UTC), True),  # Wednesday 16:10 New York
        (datetime(2026, 11, 25, 20, 0, tzinfo=UTC), False),  # 15:00: the session has not closed
        (datetime(2026, 11, 26, 21, 10, tzinfo=UTC), False),  # Thanksgiving
        (datetime(2026, 11, 28, 21, 10, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 11, 27, 18, 30, tzinfo=UTC), True),  # 13:30 after the early close
    ],
)
def test_the_scheduled_start_follows_the_exchange_calendar(universe, now, starts):
    result = start_scheduled_run(universe=universe, now=now)
    assert result.started is starts, result.message
    assert PipelineRun.objects.filter(trigger="scheduled").count() == (1 if starts else 0)


def test_one_scheduled_run_per_session_even_after_the_first_ended(universe):
    now = datetime(2026, 11, 25, 21, 10, tzinfo=UTC)
    assert start_scheduled_run(universe=universe, now=now).started
    PipelineRun.objects.update(status=RunStatus.COMPLETED)  # a second beat fires later that evening
    second = start_scheduled_run(universe=universe, now=now.replace(hour=22))
    assert not second.started and "exists already" in second.message
    with pytest.raises(RunConflict):
        start_pipeline_run(universe=universe, trigger="scheduled", session_date=date(2026, 11, 25))
    assert PipelineRun.objects.count() == 1


def test_the_default_schedule_is_weekdays_after_the_close_in_new_york(staff_client):
    schedule = staff_client.get("/api/processing/schedule").json()
    assert schedule["enabled"] is True
    assert (schedule["time"], schedule["time_zone"]) == ("16:10", "America/New_York")
    assert schedule["days"] == ["mon", "tue", "wed", "thu", "fri"]


@pytest.mark.parametrize(
    "body",
    [{"time": "25:00"}, {"time": "4pm"}, {"days": ["funday"]}, {"days": []}, {"time_zone": "Mars/Olympus"},
     {"universe": "nope"}, {"phases": "import,painting"}, {"colour": "red"}],
)  # fmt: skip
def test_a_bad_schedule_edit_is_a_400_and_changes_nothing(staff_client, body):
    before = staff_client.get("/api/processing/schedule").json()
    response = post(staff_client, "/api/processing/schedule", body)
    assert response.status_code == 400, response.json()
    assert staff_client.get("/api/processing/schedule").json() == before


def test_a_schedule_edit_is_what_beat_loads(staff_client, universe):
    from django_celery_beat.schedulers import DatabaseScheduler

    from celery_app import app

    body = {
        "time": "17:45",
        "days": ["mon", "wed"],
        "time_zone": "Europe/London",
        "universe": universe,
        "enabled": False,
    }
    changed = post(staff_client, "/api/processing/schedule", body).json()
    assert {key: changed[key] for key in body} == body
    task = PeriodicTask.objects.get(name=DAILY_PIPELINE)
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week) == ("17", "45", "1,3")
    assert json.loads(task.kwargs)["universe"] == universe
    post(staff_client, "/api/processing/schedule", {"enabled": True})
    # The entry beat builds from the row (its scheduler loads only rows due within two hours of now).
    entry = DatabaseScheduler.Entry(PeriodicTask.objects.get(name=DAILY_PIPELINE), app=app)
    assert (
        entry.schedule.hour == {17} and entry.schedule.minute == {45} and entry.schedule.day_of_week == {1, 3}
    )
    assert str(entry.schedule.tz) == "Europe/London"
    assert entry.kwargs["universe"] == universe


def test_only_staff_see_and_change_the_schedule(client):
    client.force_login(make_user("bob"))
    assert client.get("/api/processing/schedule").status_code == 403
    assert post(client, "/api/processing/schedule", {"enabled": False}).status_code == 403
