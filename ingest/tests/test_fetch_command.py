"""`manage.py fetch`: the direct path (--sync) and the queued path through a real worker (--wait)."""

from io import StringIO

import exchange_calendars
import pytest
from django.core.management import CommandError, call_command

from ingest.models import Bar, FetchJob, JobKind, JobStatus, Ticker
from stockhub.queues import Queue, Reason

pytestmark = pytest.mark.django_db(transaction=True)


def fetch(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("fetch", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_sync_fetch_stores_bars_and_a_refetch_changes_nothing():
    out, _ = fetch(
        "aapl", "--sync", "--provider", "synthetic", "--start", "2024-01-01", "--end", "2024-03-01"
    )
    stored = Bar.objects.filter(ticker__symbol="AAPL", timeframe="daily").count()
    assert stored == len(
        exchange_calendars.get_calendar("XNYS").sessions_in_range("2024-01-01", "2024-03-01")
    )
    assert f"{stored} new" in out
    out, _ = fetch(
        "AAPL", "--sync", "--provider", "synthetic", "--start", "2024-01-01", "--end", "2024-03-01"
    )
    assert f"0 new, 0 updated, {stored} unchanged" in out


def test_sync_fetch_of_an_unknown_symbol_fails_clearly_and_leaves_no_ticker():
    with pytest.raises(CommandError, match="1 of 2 symbols failed"):
        fetch(
            "ZZZZ",
            "MSFT",
            "--sync",
            "--provider",
            "synthetic",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-10",
        )
    assert not Ticker.objects.filter(symbol="ZZZZ").exists()
    assert Bar.objects.filter(ticker__symbol="MSFT").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["BAD SYMBOL!"], "symbol"),
        (["AAPL", "--start", "2024-02-01", "--end", "2024-01-01"], "after --end"),
        (["AAPL", "--priority", "9"], "priority"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_queued(args, message):
    with pytest.raises(CommandError, match=message):
        fetch(*args)
    assert not FetchJob.objects.exists()


@pytest.mark.slow
def test_queued_fetch_waits_for_the_worker_and_reports_each_symbol(workers):
    workers.start("foreground")
    out, _ = fetch("IBM", "KO", "--priority", "2", "--wait", "--timeout", "60")
    jobs = FetchJob.objects.filter(kind=JobKind.FETCH_BARS).order_by("ticker__symbol")
    assert [(j.ticker.symbol, j.queue, j.priority, j.reason, j.status) for j in jobs] == [
        ("IBM", Queue.FOREGROUND, 2, Reason.USER_REQUEST, JobStatus.SUCCEEDED),
        ("KO", Queue.FOREGROUND, 2, Reason.USER_REQUEST, JobStatus.SUCCEEDED),
    ]
    assert "2/2 done" in out
    assert f"IBM: succeeded, {jobs[0].rows_stored} bars stored" in out
    assert jobs[0].rows_stored == Bar.objects.filter(ticker__symbol="IBM", timeframe="daily").count() > 0


@pytest.mark.slow
def test_a_queued_job_that_fails_is_reported_with_its_code(workers):
    workers.start("background")
    with pytest.raises(CommandError, match="1 of 1 jobs did not succeed"):
        fetch("ZZZQ", "--priority", "5", "--wait", "--timeout", "60")
    job = FetchJob.objects.get(kind=JobKind.FETCH_BARS)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "SYMBOL_NOT_FOUND")
