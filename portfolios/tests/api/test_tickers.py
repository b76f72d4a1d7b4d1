"""Ticker search (symbol or name prefix, in pages) and a person's refresh of one ticker (foreground, priority 3)."""

from __future__ import annotations

import pytest

from ingest.models import FetchJob, JobStatus, Ticker
from stockhub.queues import Queue, Reason

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tickers():
    for symbol, name in [("AAPL", "Apple Inc."), ("AAL", "American Airlines"), ("MSFT", "Microsoft"),
                         ("APLE", "Apple Hospitality REIT"), ("BRK.B", "Berkshire Hathaway")]:  # fmt: skip
        Ticker.objects.create(symbol=symbol, name=name, exchange="NYSE")


def test_search_matches_a_symbol_or_name_prefix_in_any_case(api, tickers):
    assert [t["symbol"] for t in api.get("/api/tickers?search=aa").json()["results"]] == ["AAL", "AAPL"]
    assert [t["symbol"] for t in api.get("/api/tickers?search=apple").json()["results"]] == ["AAPL", "APLE"]
    assert [t["symbol"] for t in api.get("/api/tickers?search=brk-b").json()["results"]] == ["BRK.B"]


def test_a_ticker_comes_with_its_name_and_exchange(api, tickers):
    body = api.get("/api/tickers?search=MSFT").json()
    assert body["count"] == 1
    assert body["results"] == [{"symbol": "MSFT", "name": "Microsoft", "exchange": "NYSE", "sector": "",
                                "asset_type": "stock", "active": True}]  # fmt: skip


def test_without_a_search_every_ticker_comes_in_pages(api, tickers):
    first = api.get("/api/tickers?page_size=2").json()
    assert first["count"] == 5 and [t["symbol"] for t in first["results"]] == ["AAL", "AAPL"]
    third = api.get("/api/tickers?page_size=2&page=3").json()
    assert [t["symbol"] for t in third["results"]] == ["MSFT"] and third["next"] is None


def test_a_page_past_the_last_is_a_404_that_says_where_the_last_is(api, tickers):
    response = api.get("/api/tickers?page=9&page_size=2")
    assert response.status_code == 404
    assert response.json() == {
        **response.json(),
        "code": "NOT_FOUND",
        "message": "no page 9; the last page is 3",
    }


def test_an_sql_looking_search_finds_nothing_and_harms_nothing(api, tickers):
    body = api.get("/api/tickers", {"search": "A'; DROP TABLE ingest_ticker; --"}).json()
    assert body["count"] == 0
    assert Ticker.objects.count() == 5


def test_a_refresh_queues_one_foreground_job_at_priority_3_for_the_person(api, alice, tickers, clean_broker):
    response = api.post("/api/tickers/aapl/refresh", {"timeframe": "hourly"}, format="json")
    assert response.status_code == 202
    body = response.json()
    job = FetchJob.objects.get()
    assert body["job_ids"] == [job.id] and body["message"] == "1 jobs queued"
    assert [j["id"] for j in body["jobs"]] == [job.id]
    assert (job.ticker.symbol, job.timeframe, job.queue, job.priority, job.reason, job.requested_by) == (
        "AAPL", "hourly", Queue.FOREGROUND, 3, Reason.USER_REQUEST, alice
    )  # fmt: skip
    assert job.status == JobStatus.QUEUED and job.published_at is not None


def test_a_refresh_without_a_body_fetches_daily_bars(api, tickers, clean_broker):
    assert api.post("/api/tickers/MSFT/refresh").status_code == 202
    assert FetchJob.objects.get().timeframe == "daily"


def test_asking_twice_while_the_job_waits_returns_the_same_job(api, tickers, clean_broker):
    first = api.post("/api/tickers/MSFT/refresh").json()
    second = api.post("/api/tickers/MSFT/refresh").json()
    assert first["job_ids"] == second["job_ids"] and FetchJob.objects.count() == 1


def test_refreshing_an_unknown_ticker_is_a_404_and_queues_nothing(api, clean_broker):
    response = api.post("/api/tickers/NOPE/refresh")
    assert response.status_code == 404 and response.json()["message"] == "no ticker 'NOPE'"
    assert not FetchJob.objects.exists() and not Ticker.objects.exists()
