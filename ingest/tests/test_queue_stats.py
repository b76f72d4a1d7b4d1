"""queue_stats reads depths per priority from the real broker and fires each alert once per change."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from ingest.models import AlertState, Ticker
from ingest.monitoring import queue_report
from ingest.services.job_requests import request_fetch
from stockhub.queues import Reason

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.queues]


def queue_jobs(prefix: str, priorities: list[int]) -> None:
    for i, priority in enumerate(priorities):
        ticker = Ticker.objects.create(symbol=f"{prefix}{i}")
        request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED, priority=priority)


def test_depth_by_priority_is_read_from_the_broker(clean_broker):
    queue_jobs("Q", [4, 5, 5, 6, 6, 6])
    out = StringIO()
    call_command("queue_stats", "--json", stdout=out)
    report = json.loads(out.getvalue())
    background = next(q for q in report["queues"] if q["queue"] == "background")
    assert background["depth"] == 6
    assert background["queued"] == 6
    assert {int(k): v for k, v in background["depth_by_priority"].items()} == {4: 1, 5: 2, 6: 3}
    foreground = next(q for q in report["queues"] if q["queue"] == "foreground")
    assert foreground["depth"] == 0


def test_a_deep_queue_alerts_once_and_recovers(clean_broker, caplog):
    queue_jobs("D", [5, 5, 5])
    with override_settings(STOCKHUB_ALERT_QUEUE_DEPTH=2):
        first = queue_report()
        second = queue_report()
    assert [a.name for a in first.alerts] == ["queue_depth:background"]
    assert [a.name for a in second.alerts] == ["queue_depth:background"]
    firing = [r for r in caplog.records if "FIRING" in r.getMessage()]
    assert len(firing) == 1  # logged once per change of state, not once per check
    assert AlertState.objects.get(name="queue_depth:background").active
    with override_settings(STOCKHUB_ALERT_QUEUE_DEPTH=10):
        third = queue_report()
    assert third.alerts == []
    assert any("recovered" in r.getMessage() for r in caplog.records)
    assert not AlertState.objects.get(name="queue_depth:background").active


def test_human_output_names_each_queue(clean_broker):
    out = StringIO()
    call_command("queue_stats", stdout=out)
    text = out.getvalue()
    for queue in ("foreground", "background", "analysis"):
        assert queue in text
    assert "no alerts" in text or "ALERT" in text
