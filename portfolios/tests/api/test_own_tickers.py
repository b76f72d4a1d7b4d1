"""GET /api/tickers/portfolio: the caller's own tickers with their freshness, never anyone else's."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ingest.models import FetchJob, JobKind, JobStatus, Ticker
from portfolios.tests.factories import make_fresh, make_old_bar, make_portfolio, make_user
from stockhub.queues import Queue, Reason

pytestmark = pytest.mark.django_db


def test_own_tickers_list_each_symbol_once_with_its_freshness(client):
    now = timezone.now()
    alice = make_user("alice")
    make_portfolio(owner=alice, name="Main", symbols=["AAPL", "MSFT"])
    make_portfolio(owner=alice, name="Growth", symbols=["AAPL", "NVDA"])
    make_portfolio(owner=make_user("bob"), name="Bob's", symbols=["TSLA"])
    make_fresh("AAPL", now=now, fetched=True)
    make_old_bar("MSFT", now=now, days=10)
    FetchJob.objects.create(
        ticker=Ticker.objects.get(symbol="NVDA"), kind=JobKind.FETCH_BARS, timeframe="daily",
        reason=Reason.USER_LOGIN, priority=1, queue=Queue.FOREGROUND, status=JobStatus.RUNNING,
        started_at=now - timedelta(seconds=1),
    )  # fmt: skip
    client.force_login(alice)
    rows = client.get("/api/tickers/portfolio").json()
    assert [(r["symbol"], sorted(r["portfolios"]), r["freshness"]) for r in rows] == [
        ("AAPL", ["Growth", "Main"], "fresh"),
        ("MSFT", ["Main"], "stale"),
        ("NVDA", ["Growth"], "refreshing"),
    ]
    assert rows[0]["last_close"] is not None


def test_own_tickers_need_a_login(client):
    assert client.get("/api/tickers/portfolio").status_code in (401, 403)
