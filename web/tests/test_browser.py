"""The pages in a real browser (Debian's chromium through Playwright) against the real ASGI server and real
workers: the live parts are driven by the Redis events, never by reloading the page."""

from __future__ import annotations

import pytest

from ingest.models import FetchJob, JobKind, JobStatus, PipelineRun, Ticker, Universe, UniverseKind
from ingest.services.ticker_queue import PHASES
from ingest.tests.test_queue_workers import wait_until
from portfolios.tests.factories import make_portfolio, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SLOW_SECONDS = 90_000  # ms: a job on a busy 2-core machine; everything else answers in well under a second
PASSWORD = "pw-for-tests-only"  # the factories' password


@pytest.fixture
def page(browser, asgi_server):
    context = browser.new_context(base_url=asgi_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url("**/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def badge(page, symbol: str):
    return page.locator(f'#holdings tr[data-symbol="{symbol}"] .freshness')


def test_logging_in_shows_the_refresh_of_stale_holdings_happen_live(page, workers):
    make_portfolio(owner=make_user("ann"), name="Tech", symbols=["AAPL", "MSFT"])
    log_in(page, "ann")  # the login queued a foreground fetch of each (no bars yet: stale)
    for symbol in ("AAPL", "MSFT"):
        expect(badge(page, symbol)).to_have_text("refreshing")
    expect(page.locator("#jobs tr[data-job-id]")).to_have_count(2)
    workers.start("foreground")
    for symbol in ("AAPL", "MSFT"):
        expect(badge(page, symbol)).to_have_text("fresh", timeout=SLOW_SECONDS)
    expect(page.locator('#holdings tr[data-symbol="AAPL"] .last')).not_to_have_text("—")
    expect(page.locator("#no-jobs")).to_be_visible()
    statuses = page.evaluate(
        "Stockhub.events.filter(e => e.event === 'job.status').map(e => e.payload.status)"
    )
    assert {"running", "succeeded"} <= set(statuses)
    assert page.evaluate("Stockhub.reconnects") == 0  # live, not reloaded


def test_adding_a_ticker_validates_it_then_shows_its_phases_until_done(page, workers):
    make_user("ann")
    log_in(page, "ann")
    page.fill("#add-symbol", "no way!")
    page.click("#add-ticker button")
    expect(page.locator("#add-message")).to_contain_text("Use 1-10 characters")
    page.fill("#add-symbol", "nvda")
    page.click("#add-ticker button")
    expect(page.locator("#add-message")).to_contain_text("NVDA queued")
    entry = page.locator('#ticker_entries tr[data-symbol="NVDA"]')
    expect(entry.locator(".badge.status")).to_have_text("queued")
    workers.start("foreground")
    expect(entry.locator(".badge.status")).to_have_text("succeeded", timeout=SLOW_SECONDS)
    expect(entry.locator(".phase")).to_contain_text(f"phase {len(PHASES)} of {len(PHASES)}: done")
    expect(entry.locator(".percent .value")).to_have_text("100.0%")
    phases = page.evaluate(
        "Stockhub.events.filter(e => e.event === 'ticker.progress').map(e => e.payload.phase)"
    )
    assert len(set(phases)) >= 3, (
        phases
    )  # watched phase by phase (the first may come before the page listened)


def test_staff_trigger_a_run_and_watch_its_progress(page, workers):
    universe = Universe.objects.create(slug="tiny", name="Tiny", kind=UniverseKind.INDEX)
    universe.members.set([Ticker.objects.create(symbol=symbol) for symbol in ("AAPL", "KO", "MSFT")])
    make_user("boss", staff=True)
    log_in(page, "boss")
    page.goto("/pipeline/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#market .market")).to_contain_text("Market (XNYS)")
    page.select_option("#trigger select[name=universe]", "tiny")
    page.click("#trigger button[type=submit]")
    expect(page.locator("#trigger-message")).to_contain_text("started over 3 symbols")
    run = PipelineRun.objects.get()
    expect(page.locator(f'#current_run .run[data-run-id="{run.id}"]')).to_be_visible()
    workers.start("background")
    workers.start("analysis")
    status = page.locator('#current_run [data-field="status"]')
    expect(status).to_have_text("completed", timeout=SLOW_SECONDS)
    expect(page.locator('#current_run [data-field="percent"]')).to_have_text("100.0%")
    expect(page.locator('#current_run [data-field="done"]')).to_have_text("3")
    expect(page.locator(f'#history tr[data-run-id="{run.id}"]')).to_contain_text("completed")
    events = page.evaluate("Stockhub.events.map(e => e.event)")
    assert "phase.progress" in events and "run.completed" in events


def test_after_the_server_restarts_the_page_reconnects_and_catches_up(page, workers, asgi_server):
    make_portfolio(owner=make_user("ann"), symbols=["AAPL"])
    log_in(page, "ann")
    expect(badge(page, "AAPL")).to_have_text("refreshing")
    asgi_server.stop()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "reconnecting")
    workers.start("foreground")  # the job ends while the page hears nothing
    fetch = FetchJob.objects.filter(kind=JobKind.FETCH_BARS)
    wait_until(lambda: fetch.get().status == JobStatus.SUCCEEDED, seconds=90, what="the login's fetch")
    asgi_server.start()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=30_000)
    expect(badge(page, "AAPL")).to_have_text("fresh")  # reloaded from the database after the reconnect
    assert page.evaluate("Stockhub.reconnects") == 1
