"""Every page through Django's test client: who may see it, and what it shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from ingest.models import (
    Bar,
    FetchJob,
    JobKind,
    JobStatus,
    PipelineRun,
    RunStatus,
    RunTrigger,
    SymbolRunStatus,
    SymbolStatus,
    Ticker,
    Universe,
)
from portfolios.tests.factories import make_fresh, make_portfolio, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _test_redis(broker_url: str) -> None:
    """Logging in queues jobs and jobs announce themselves: on the test broker and Redis only."""


def add_bar(symbol: str, *, days_ago: int, close: float) -> None:
    ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
    day = (timezone.now() - timedelta(days=days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
    Bar.objects.create(
        ticker=ticker, timeframe="daily", ts=day, open=close, high=close + 1, low=close - 1, close=close,
        volume=1000, source="test",
    )  # fmt: skip


def make_run(*, status: str = RunStatus.COMPLETED_WITH_ERRORS) -> PipelineRun:
    universe = Universe.objects.create(slug="tiny", name="Tiny", kind="index")
    run = PipelineRun.objects.create(
        universe=universe, trigger=RunTrigger.MANUAL, status=status, session_date=timezone.now().date(),
        phases=["import", "indicators", "patterns"], total_symbols=2, started_at=timezone.now(),
    )  # fmt: skip
    for symbol, state, code in (
        ("AAA", SymbolStatus.DONE, ""),
        ("BBB", SymbolStatus.FAILED, "NETWORK_TIMEOUT"),
    ):
        ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
        SymbolRunStatus.objects.create(
            run=run, ticker=ticker, phase="import", status=state, error_code=code,
            error_message="provider timed out after 10s" if code else "", attempts=5 if code else 1,
        )  # fmt: skip
    return run


def test_signed_out_the_site_root_leads_to_the_login_page(client):
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content and b'name="password"' in page.content


def test_logging_in_with_the_form_queues_the_refresh_of_stale_holdings_and_opens_the_dashboard(client):
    portfolio = make_portfolio(owner=make_user("ann"), symbols=["AAPL", "MSFT"])
    make_fresh("MSFT", now=timezone.now(), fetched=True)
    response = client.post("/login/", {"username": "ann", "password": "pw-for-tests-only"})
    assert (response.status_code, response["Location"]) == (302, "/")
    jobs = FetchJob.objects.filter(requested_by=portfolio.owner)
    assert [job.ticker.symbol for job in jobs] == ["AAPL"]
    dashboard = client.get("/").content.decode()
    assert 'data-symbol="AAPL"' in dashboard and 'data-freshness="refreshing"' in dashboard
    assert f'data-job-id="{jobs[0].id}"' in dashboard  # in "Your jobs"


def test_a_wrong_password_shows_the_form_again_with_an_error(client):
    make_user("ann")
    response = client.post("/login/", {"username": "ann", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_the_dashboard_shows_holdings_with_last_price_day_change_and_freshness(client):
    user = make_user("ann")
    make_portfolio(owner=user, name="Tech", symbols=["AAPL", "NVDA"])
    add_bar("AAPL", days_ago=2, close=100.0)
    add_bar("AAPL", days_ago=1, close=110.0)
    client.force_login(user)  # queues the login refresh: AAPL's ends well, NVDA's fails
    FetchJob.objects.filter(ticker__symbol="AAPL").update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now()
    )
    FetchJob.objects.filter(ticker__symbol="NVDA").update(
        status=JobStatus.FAILED, error_code="SYMBOL_NOT_FOUND", finished_at=timezone.now()
    )
    holdings = client.get("/?part=holdings").content.decode()
    assert "<h3>Tech</h3>" in holdings and "<html" not in holdings  # the part alone
    aapl = holdings.split('data-symbol="AAPL"')[1].split("</tr>")[0]
    assert "110.00" in aapl and "10.00 (10.00%)" in aapl
    nvda = holdings.split('data-symbol="NVDA"')[1].split("</tr>")[0]
    assert 'data-freshness="failed"' in nvda


def test_the_dashboard_lists_added_tickers_with_phase_and_offers_retry_or_cancel(client):
    user = make_user("ann")
    client.force_login(user)
    for symbol, status, progress in (
        (
            "NVDA",
            JobStatus.RUNNING,
            {"phase": "fetch daily", "phase_number": 2, "phases": 13, "percent": 8.3},
        ),
        ("ZZZQ", JobStatus.FAILED, {}),
        ("AMD", JobStatus.QUEUED, {}),
    ):
        FetchJob.objects.create(
            kind=JobKind.ADD_TICKER, ticker=Ticker.objects.create(symbol=symbol), reason="user_request",
            priority=3, queue="foreground", status=status, requested_by=user, progress=progress,
        )  # fmt: skip
    entries = client.get("/?part=ticker_entries").content.decode()
    assert "phase 2 of 13: fetch daily" in entries
    assert 'data-action="retry" data-symbol="ZZZQ"' in entries
    assert 'data-action="cancel" data-symbol="AMD"' in entries
    assert client.get("/?part=nothing").status_code == 404


def test_the_ticker_page_draws_its_chart_with_the_vendored_library(client):
    client.force_login(make_user("ann"))
    Ticker.objects.create(symbol="BRK.B")
    page = client.get("/tickers/brk-b/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-symbol="BRK.B"' in html
    assert "web/vendor/lightweight-charts.standalone.production.js" in html and "web/ticker.js" in html
    assert 'value="rsi_14" data-outputs="rsi_14"' in html
    assert client.get("/tickers/NOPE/").status_code == 404
    vendored = finders.find("web/vendor/lightweight-charts.standalone.production.js")
    assert "Lightweight Charts™ v4.2.0" in open(vendored).read(300)


@pytest.mark.parametrize("url", ["/pipeline/", "/queues/"])
def test_staff_pages_send_the_signed_out_to_login_and_refuse_other_users(client, url):
    assert client.get(url)["Location"] == f"/login/?next={url}"
    client.force_login(make_user("ann"))
    assert client.get(url).status_code == 403


def test_the_pipeline_page_shows_the_run_its_failures_schedule_history_and_market(client):
    run = make_run()
    client.force_login(make_user("boss", staff=True))
    html = client.get("/pipeline/").content.decode()
    assert f'data-run-id="{run.id}"' in html and "completed_with_errors" in html
    assert "NETWORK_TIMEOUT" in html and "provider timed out after 10s" in html
    assert f'data-action="retry-run" data-run-id="{run.id}"' in html
    assert 'name="time" value="16:10"' in html  # the daily schedule, from the database
    assert 'value="tiny"' in html  # the trigger form's universes
    assert "Market (XNYS)" in html
    assert client.get("/pipeline/?part=market").content.decode().strip().startswith('<p class="market')


def test_the_queues_page_shows_every_queue_and_links_to_flower(client, settings):
    settings.STOCKHUB_FLOWER_URL = "http://flower.example:5555/"
    client.force_login(make_user("boss", staff=True))
    html = client.get("/queues/").content.decode()
    for queue in ("foreground", "background", "analysis"):
        assert f'data-queue="{queue}"' in html
    assert 'href="http://flower.example:5555/"' in html


def test_logging_out_returns_to_the_login_page(client):
    client.force_login(make_user("ann"))
    response = client.post("/logout/")
    assert (response.status_code, response["Location"]) == (302, "/login/")
    assert client.get("/")["Location"] == "/login/?next=/"


def test_a_user_without_portfolios_sees_an_empty_dashboard(client):
    client.force_login(make_user("ann"))
    html = client.get("/").content.decode()
    assert "You have no portfolio yet." in html and "Nothing queued or running." in html
