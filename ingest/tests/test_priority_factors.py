"""The producer of the dynamic priority: each ticker's urgency factors, computed in bulk, stored on the ticker,
and used by request_job for background and analysis jobs nobody gave a priority."""

import json
import math
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from ingest.models import Bar, FetchJob, JobKind, Ticker
from ingest.schedules import PRIORITY_REFRESH, sync_schedules
from ingest.services.job_requests import request_fetch, request_job, request_jobs
from ingest.services.urgency import refresh_priority_factors, stored_priority
from portfolios.models import Holding, Portfolio
from portfolios.tests.factories import make_user
from stockhub.queues import Queue, Reason, broker_priority

NOW = datetime(2025, 3, 14, 21, 0, tzinfo=UTC)  # a Friday evening; newest bars are keyed 2025-03-14 00:00 UTC
TODAY = date(2025, 3, 14)
ANNUAL = math.sqrt(252)


def bars(symbol: str, closes: list[float], *, newest: date) -> Ticker:
    """Daily bars of `symbol` on consecutive days ending at `newest`, one per close (oldest first)."""
    ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
    Bar.objects.bulk_create(
        Bar(
            ticker=ticker,
            timeframe="daily",
            ts=datetime.combine(newest - timedelta(days=len(closes) - 1 - i), datetime.min.time(), UTC),
            open=close,
            high=close * 1.01,
            low=close * 0.99,
            close=close,
            volume=1000,
            source="test",
        )
        for i, close in enumerate(closes)
    )
    return ticker


def zigzag(last: float, step: float, count: int = 21) -> list[float]:
    """`count` closes whose log returns alternate +step, -step (mean 0), ending at `last`."""
    return [last * math.exp(step) if (count - 1 - i) % 2 else last for i in range(count)]


def zigzag_volatility(step: float, returns: int = 20) -> float:
    """Annualised sample standard deviation of `returns` log returns alternating ±step, over the 0.8 cap."""
    return step * math.sqrt(returns / (returns - 1)) * ANNUAL / 0.8


def hold(owner, holdings: dict[str, str], name: str = "Main") -> Portfolio:
    portfolio = Portfolio.objects.create(owner=owner, name=name)
    for symbol, quantity in holdings.items():
        ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
        Holding.objects.create(portfolio=portfolio, ticker=ticker, quantity=Decimal(quantity))
    return portfolio


def user(username: str, *, last_login: datetime | None):
    person = make_user(username)
    type(person).objects.filter(id=person.id).update(last_login=last_login)
    return person


@pytest.fixture
def market(db) -> dict[str, Ticker]:
    """Active and inactive holders, big and small positions, fresh and stale bars, calm and volatile series."""
    bars("HOT", zigzag(100, 0.06), newest=TODAY)  # volatile, fresh
    bars("CALM", [50.0] * 21, newest=TODAY)  # flat: volatility 0
    bars("STALE", zigzag(20, 0.02), newest=TODAY - timedelta(days=10))
    bars("FEW", [10.0] * 5, newest=TODAY - timedelta(days=2))  # 4 returns: too few for a volatility
    bars("OLD", [30.0], newest=TODAY - timedelta(days=60))  # its only close is older than the recent window
    bars("QUIET", [40.0] * 21, newest=TODAY)  # nobody holds it
    Ticker.objects.create(symbol="NOBODY")  # no holder, no bar
    ann = user("ann", last_login=NOW - timedelta(hours=2))  # active
    bob = user("bob", last_login=NOW - timedelta(days=16))  # 16 of 30 days: 14/29 active
    cat = user("cat", last_login=None)  # never logged in
    hold(ann, {"HOT": "30", "CALM": "10", "NEW": "5"})  # 3000 + 500 + no close
    hold(bob, {"STALE": "4", "CALM": "2"})  # 80 + 100
    hold(cat, {"FEW": "1", "OLD": "1"})  # 10 + 30
    return {ticker.symbol: ticker for ticker in Ticker.objects.all()}


def factors(symbol: str) -> tuple[float, float, float, float]:
    t = Ticker.objects.get(symbol=symbol)
    return (t.urgency_activity, t.urgency_value, t.urgency_age, t.urgency_volatility)


def test_factors_follow_holder_activity_position_size_data_age_and_volatility(market):
    result = refresh_priority_factors(now=NOW)

    assert result.tickers == 8
    expected = {
        # activity: the most recent holder; value: largest share of one portfolio; age: newest bar / 5 days
        "HOT": (1.0, 6 / 7, 0.875 / 5, 1.0),  # volatility 0.06 zigzag = 0.98 a year: over the cap
        "CALM": (1.0, 5 / 9, 0.875 / 5, 0.0),  # 1/7 of ann's portfolio but 5/9 of bob's
        "NEW": (1.0, 0.0, 1.0, 0.0),  # held, never fetched: no close, no bar
        "STALE": (14 / 29, 4 / 9, 1.0, zigzag_volatility(0.02)),
        "FEW": (0.0, 0.25, 2.875 / 5, 0.0),
        "OLD": (0.0, 0.75, 1.0, 0.0),  # its two-month-old close still counts for the value
        "QUIET": (0.0, 0.0, 0.875 / 5, 0.0),
        "NOBODY": (0.0, 0.0, 1.0, 0.0),
    }
    for symbol, want in expected.items():
        assert factors(symbol) == pytest.approx(want, rel=1e-9, abs=1e-12), symbol
    assert Ticker.objects.filter(urgency_computed_at=NOW).count() == 8


def test_the_more_urgent_ticker_gets_the_better_priority_inside_each_band(market):
    refresh_priority_factors(now=NOW)
    tickers = {t.symbol: t for t in Ticker.objects.all()}

    def priority(symbol: str, queue: Queue) -> int:
        return stored_priority(ticker=tickers[symbol], queue=queue)

    # held by an active user, big and volatile > held, calm > small and stale-ish > unheld and fresh
    assert [priority(s, Queue.BACKGROUND) for s in ("HOT", "CALM", "FEW", "QUIET")] == [4, 5, 6, 6]
    # unheld: stale data (NOBODY) > fresh (QUIET), which shares the last place with maintenance
    assert [priority(s, Queue.ANALYSIS) for s in ("HOT", "STALE", "NOBODY", "QUIET")] == [8, 8, 9, 10]


def test_a_background_or_analysis_job_without_a_priority_takes_the_stored_one(market):
    refresh_priority_factors(now=NOW)
    hot, quiet = Ticker.objects.get(symbol="HOT"), Ticker.objects.get(symbol="QUIET")

    scheduled = [request_fetch(ticker=t, timeframe="daily", reason=Reason.SCHEDULED) for t in (hot, quiet)]
    analysis = request_jobs(
        kind=JobKind.COMPUTE_INDICATORS, pairs=[(hot, "daily"), (quiet, "daily")], reason=Reason.ANALYSIS
    )
    backfill = request_fetch(ticker=hot, timeframe="weekly", reason=Reason.BACKFILL)

    jobs = FetchJob.objects.in_bulk([r.job_id for r in [*scheduled, *analysis, backfill]])
    assert [(jobs[r.job_id].queue, jobs[r.job_id].priority) for r in scheduled] == [
        ("background", 4),
        ("background", 6),
    ]
    assert [(jobs[r.job_id].queue, jobs[r.job_id].priority) for r in analysis] == [
        ("analysis", 8),
        ("analysis", 10),
    ]
    assert jobs[backfill.job_id].priority == 4  # the ticker's urgency, not backfill's default 6


def test_foreground_jobs_and_explicit_priorities_keep_theirs(market):
    refresh_priority_factors(now=NOW)
    quiet, hot = Ticker.objects.get(symbol="QUIET"), Ticker.objects.get(symbol="HOT")

    login = request_fetch(ticker=quiet, timeframe="daily", reason=Reason.USER_LOGIN)
    asked = request_fetch(ticker=quiet, timeframe="hourly", reason=Reason.USER_REQUEST)
    explicit = request_fetch(ticker=hot, timeframe="daily", reason=Reason.SCHEDULED, priority=6)
    by_hand = request_fetch(ticker=quiet, timeframe="weekly", reason=Reason.MANUAL_RUN)  # a person started it

    jobs = FetchJob.objects.in_bulk([login.job_id, asked.job_id, explicit.job_id, by_hand.job_id])
    assert [jobs[r.job_id].priority for r in (login, asked, explicit, by_hand)] == [1, 3, 6, 4]


def test_without_computed_factors_jobs_get_their_reasons_default_priority(market):
    jobs = {
        reason: FetchJob.objects.get(
            id=request_job(kind=kind, ticker=market["HOT"], timeframe=timeframe, reason=reason).job_id
        ).priority
        for kind, timeframe, reason in [
            (JobKind.FETCH_BARS, "daily", Reason.MANUAL_RUN),
            (JobKind.FETCH_BARS, "weekly", Reason.SCHEDULED),
            (JobKind.FETCH_BARS, "monthly", Reason.BACKFILL),
            (JobKind.COMPUTE_INDICATORS, "daily", Reason.ANALYSIS),
        ]
    }
    assert jobs == {Reason.MANUAL_RUN: 4, Reason.SCHEDULED: 5, Reason.BACKFILL: 6, Reason.ANALYSIS: 8}
    assert stored_priority(ticker=market["HOT"], queue=Queue.BACKGROUND) is None


def test_the_stored_priority_of_a_loaded_ticker_costs_no_query(market, django_assert_num_queries):
    refresh_priority_factors(now=NOW)
    hot = Ticker.objects.get(symbol="HOT")
    with django_assert_num_queries(0):
        assert stored_priority(ticker=hot, queue=Queue.BACKGROUND) == 4
    deferred = Ticker.objects.only("id", "symbol").get(symbol="HOT")
    with django_assert_num_queries(1):  # the five urgency fields in one query, not five
        assert stored_priority(ticker=deferred, queue=Queue.ANALYSIS) == 8


def test_refreshing_takes_the_same_few_queries_for_many_tickers_and_twice_changes_nothing(market):
    with CaptureQueriesContext(connection) as few:
        refresh_priority_factors(now=NOW)
    before = {t.id: factors(t.symbol) for t in Ticker.objects.all()}

    refresh_priority_factors(now=NOW)
    assert {t.id: factors(t.symbol) for t in Ticker.objects.all()} == before

    owner = user("dan", last_login=NOW - timedelta(days=3))
    for i in range(40):
        bars(f"T{i}", zigzag(10 + i, 0.01), newest=TODAY - timedelta(days=i % 7))
    hold(owner, {f"T{i}": "1" for i in range(0, 40, 2)})
    hold(owner, {"OLD": "2", "T1": "3"}, name="Side")
    with CaptureQueriesContext(connection) as many:
        result = refresh_priority_factors(now=NOW)
    assert result.tickers == 48
    assert len(many) == len(few) <= 8, [q["sql"][:80] for q in many]


def test_refresh_priorities_command_prints_a_summary_and_json(db):
    now = timezone.now()
    held = bars("AAPL", zigzag(100, 0.06), newest=(now - timedelta(days=1)).date())  # active, all, volatile
    Ticker.objects.create(symbol="IBM")
    hold(user("eve", last_login=now), {"AAPL": "1"})

    out = StringIO()
    call_command("refresh_priorities", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("priority factors of 2 tickers computed at ")
    assert lines[1].split() == ["background", "p4:", "1,", "p5:", "0,", "p6:", "1"]
    assert lines[2].split() == ["analysis", "p7:", "1,", "p8:", "0,", "p9:", "1,", "p10:", "0"]

    out = StringIO()
    call_command("refresh_priorities", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["tickers"] == 2
    assert summary["priorities"] == {
        "background": {"4": 1, "5": 0, "6": 1},
        "analysis": {"7": 1, "8": 0, "9": 1, "10": 0},
    }
    held.refresh_from_db()
    assert held.urgency_computed_at == datetime.fromisoformat(summary["computed_at"])
    assert request_fetch(ticker=held, timeframe="daily", reason=Reason.SCHEDULED).job_id
    assert FetchJob.objects.get(ticker=held).priority == 4


def test_sync_schedules_adds_the_refresh_every_ten_minutes_on_the_analysis_lane_once(db, settings):
    PeriodicTask.objects.filter(name=PRIORITY_REFRESH).delete()  # migrate made it already

    assert PRIORITY_REFRESH in sync_schedules()

    entry = PeriodicTask.objects.select_related("interval").get(name=PRIORITY_REFRESH)
    assert entry.task == "analysis.refresh_priorities"
    assert (entry.interval.every, entry.interval.period) == (600, "seconds")
    assert (entry.queue, entry.priority) == ("analysis", broker_priority(10))
    assert entry.expire_seconds == 595 and entry.enabled
    # an operator's change is never overwritten, even when the setting changes
    entry.enabled = False
    entry.save()
    settings.STOCKHUB_PRIORITY_REFRESH_MINUTES = 5
    assert PRIORITY_REFRESH not in sync_schedules()
    entry.refresh_from_db()
    assert (entry.interval.every, entry.enabled) == (600, False)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_beat_entry_refreshes_the_factors_on_a_real_analysis_worker(workers):
    from celery_app import app

    sync_schedules()
    hot = bars("HOT", zigzag(100, 0.06), newest=timezone.now().date())
    hold(user("ann", last_login=timezone.now()), {"HOT": "1"})
    entry = PeriodicTask.objects.get(name=PRIORITY_REFRESH)
    workers.start("analysis")

    app.send_task(entry.task, queue=entry.queue, priority=entry.priority)  # what beat sends

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hot.refresh_from_db()
        if hot.urgency_computed_at is not None:
            break
        time.sleep(0.2)
    assert (hot.urgency_activity, hot.urgency_value, hot.urgency_volatility) == (1.0, 1.0, 1.0)
    assert stored_priority(ticker=hot, queue=Queue.BACKGROUND) == 4
