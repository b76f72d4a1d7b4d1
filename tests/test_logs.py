"""Structured logs: with STOCKHUB_LOG_FORMAT=json every line of a job's work is one JSON object carrying the
job id, symbol, queue and (in a worker) the Celery task."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from ingest.models import FetchJob, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import run_fetch_job
from stockhub.logcontext import ContextFilter, JsonFormatter, log_context
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """A root handler set up as LOGGING sets up the console with STOCKHUB_LOG_FORMAT=json, into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_line_of_a_job_run_carries_its_job_id_symbol_and_queue(json_log, clean_broker):
    job_id = request_fetch(
        ticker=Ticker.objects.create(symbol="LOGS"), timeframe="daily", reason=Reason.SCHEDULED
    ).job_id
    logging.getLogger("before").info("outside any job")

    run_fetch_job(job_id=job_id, token=FetchJob.objects.get(id=job_id).dispatch_token)

    lines = json_lines(json_log.getvalue())
    outside = next(line for line in lines if line["message"] == "outside any job")
    assert set(outside) == {"time", "level", "logger", "message"}
    work = [line for line in lines if line.get("job_id") == job_id]
    succeeded = next(line for line in work if "succeeded" in line["message"])
    assert succeeded["logger"] == "ingest.services.jobs"
    assert succeeded["level"] == "INFO"
    assert succeeded["time"].endswith("+00:00")
    # The analysis jobs the fetch asked for are published inside the fetch job's work, so those lines
    # carry the fetch job's context too.
    assert len(work) >= 2
    assert {(line["symbol"], line["queue"]) for line in work} == {("LOGS", "background")}


def test_nested_context_adds_fields_and_restores_the_outer_ones(json_log):
    log = logging.getLogger("nested")
    with log_context(run_id=3, symbol="AAA"):
        with log_context(job_id=9, symbol="BBB"):
            log.info("inner")
        log.warning("outer")
    with pytest.raises(TypeError, match="ticker"):
        with log_context(ticker="AAA"):
            pass

    inner, outer = json_lines(json_log.getvalue())
    assert (inner["run_id"], inner["job_id"], inner["symbol"]) == (3, 9, "BBB")
    assert (outer["run_id"], outer["symbol"], outer["level"]) == (3, "AAA", "WARNING")
    assert "job_id" not in outer


@pytest.mark.slow
def test_a_worker_with_the_json_format_logs_its_jobs_as_json_lines(workers):
    worker = workers.start("background", env={"STOCKHUB_LOG_FORMAT": "json"})
    job_id = request_fetch(
        ticker=Ticker.objects.create(symbol="WLOG"), timeframe="daily", reason=Reason.SCHEDULED
    ).job_id
    deadline = time.monotonic() + 60
    log_file = next(workers.tmp_path.glob("background-*.log"))
    while (
        FetchJob.objects.get(id=job_id).status != JobStatus.SUCCEEDED
        or f"job={job_id} " not in log_file.read_text()
    ):
        assert time.monotonic() < deadline, "the job did not succeed (and say so in the log) within 60 s"
        time.sleep(0.1)
    workers.stop_all()

    log = log_file.read_text()
    lines = json_lines(log)
    assert worker.returncode is not None
    assert any(line["logger"].startswith("celery") for line in lines), log  # Celery's own lines are JSON too
    succeeded = next(
        line for line in lines if line.get("job_id") == job_id and "succeeded" in line["message"]
    )
    assert succeeded["symbol"] == "WLOG"
    assert succeeded["queue"] == "background"
    assert succeeded["task"] == "background.fetch_bars"
