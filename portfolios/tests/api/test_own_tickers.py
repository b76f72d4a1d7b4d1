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


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_own_tickers_write_their_fields_as_the_schemas_serializer_does(client, zone):
    """The answer is built without OwnTickerSerializer (it is the dashboard's hot path): it must still say
    what the serializer would, datetimes in the current time zone included."""
    from portfolios.api import OwnTickerSerializer

    now = timezone.now()
    alice = make_user("alice")
    make_portfolio(owner=alice, name="Main", symbols=["AAPL", "MSFT"])
    make_fresh("AAPL", now=now, fetched=True)
    client.force_login(alice)
    with timezone.override(zone):
        answer = client.get("/api/tickers/portfolio").json()
        expected = OwnTickerSerializer(
            [{**row, "last_bar_at": timezone.localtime(timezone.datetime.fromisoformat(row["last_bar_at"]))}
             if row["last_bar_at"] else row for row in answer],
            many=True,
        ).data  # fmt: skip
    assert answer == [dict(row) for row in expected]
    assert answer[0]["last_bar_at"].endswith("Z" if zone == "UTC" else ("-05:00", "-04:00"))
    assert answer[1]["last_bar_at"] is None and answer[1]["last_close"] is None
