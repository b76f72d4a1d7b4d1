"""The ingest JSON API: bars, fetch requests (queued, or run here when the broker is down), jobs, queue stats."""

from datetime import UTC, datetime, timedelta

import pytest

from ingest.models import Bar, FetchJob, JobKind, JobStatus, Ticker
from ingest.services.job_requests import request_fetch
from ingest.services.jobs import run_fetch_job
from portfolios.tests.factories import make_user
from stockhub.queues import Queue, Reason

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user_client(client):
    client.force_login(make_user("bob"))
    return client


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("root", staff=True))
    return client


def store_daily(symbol: str, days: int) -> Ticker:
    ticker = Ticker.objects.create(symbol=symbol)
    first = datetime(2024, 1, 1, tzinfo=UTC)
    Bar.objects.bulk_create(
        Bar(ticker=ticker, timeframe="daily", ts=first + timedelta(days=i), open=10 + i, high=11 + i, low=9 + i,
            close=10.5 + i, volume=100 * i, source="test")
        for i in range(days)
    )  # fmt: skip
    return ticker


def test_the_api_needs_a_login(client):
    response = client.get("/api/bars/AAPL")
    assert response.status_code == 403
    assert "credentials were not provided" in response.json()["error"]


def test_bars_in_a_range_oldest_first(user_client):
    store_daily("AAPL", 30)
    body = user_client.get("/api/bars/aapl?start=2024-01-05&end=2024-01-09").json()
    assert body["symbol"] == "AAPL" and body["count"] == 5
    assert [bar["ts"][:10] for bar in body["bars"]] == [f"2024-01-0{d}" for d in range(5, 10)]
    assert body["bars"][0] == {"ts": "2024-01-05T00:00:00Z", "open": 14.0, "high": 15.0, "low": 13.0,
                               "close": 14.5, "volume": 400}  # fmt: skip


def test_without_a_start_the_newest_bars_come_back(user_client):
    store_daily("MSFT", 30)
    body = user_client.get("/api/bars/MSFT?limit=3").json()
    assert [bar["ts"][:10] for bar in body["bars"]] == ["2024-01-28", "2024-01-29", "2024-01-30"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("timeframe=minutely", "timeframe"),
        ("start=yesterday", "start"),
        ("start=2024-02-01&end=2024-01-01", "start is after end"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
    ],
)
def test_bad_bar_queries_get_a_400_that_says_why(user_client, query, message):
    store_daily("AAPL", 3)
    response = user_client.get(f"/api/bars/AAPL?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_an_unknown_symbol_is_a_404(user_client):
    assert user_client.get("/api/bars/NOPE").status_code == 404


def test_queue_stats_are_for_staff_only(user_client, clean_broker):
    assert user_client.get("/api/queues/stats").status_code == 403


def test_queue_stats_show_the_broker_depth_per_priority(staff_client, clean_broker):
    for i, priority in enumerate([4, 5, 5]):
        request_fetch(ticker=Ticker.objects.create(symbol=f"Q{i}"), timeframe="daily", reason=Reason.SCHEDULED,
                      priority=priority)  # fmt: skip
    body = staff_client.get("/api/queues/stats").json()
    queues = {q["queue"]: q for q in body["queues"]}
    assert set(queues) == {"foreground", "background", "analysis"}
    assert queues["background"]["depth"] == 3
    assert queues["background"]["depth_by_priority"] == {"4": 1, "5": 2}
    assert queues["background"]["queued"] == 3


@pytest.mark.parametrize(
    "body, message",
    [
        ({"symbols": []}, "symbols"),
        ({"symbols": ["BAD SYMBOL"]}, "not a valid symbol: BAD SYMBOL"),
        ({"symbols": ["AAPL"], "priority": 9}, "priority 1-6"),
        ({"symbols": ["AAPL"], "timeframe": "yearly"}, "timeframe"),
    ],
)
def test_bad_fetch_requests_get_a_400_and_record_nothing(user_client, clean_broker, body, message):
    response = user_client.post("/api/fetch", body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not FetchJob.objects.exists()


def test_malformed_json_is_a_400(user_client):
    response = user_client.post("/api/fetch", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]


def test_only_staff_queue_background_fetches(user_client, clean_broker):
    response = user_client.post(
        "/api/fetch", {"symbols": ["AAPL"], "priority": 5}, content_type="application/json"
    )
    assert response.status_code == 403


def test_a_fetch_request_is_queued_on_the_foreground_lane(user_client, clean_broker):
    body = user_client.post(
        "/api/fetch", {"symbols": ["aapl", "MSFT", "AAPL"]}, content_type="application/json"
    ).json()
    assert body["broker_reachable"] is True and body["message"] == "2 jobs queued"
    assert [(j["symbol"], j["queue"], j["priority"], j["reason"], j["status"]) for j in body["jobs"]] == [
        ("AAPL", "foreground", 3, "user_request", "queued"),
        ("MSFT", "foreground", 3, "user_request", "queued"),
    ]


def test_with_the_broker_down_a_small_request_runs_in_the_web_process(user_client, switch_broker):
    switch_broker("redis://127.0.0.1:6390/0")  # nothing listens here
    body = user_client.post("/api/fetch", {"symbols": ["IBM", "KO"]}, content_type="application/json").json()
    assert body["broker_reachable"] is False
    assert "2 jobs ran directly in the web process" in body["message"]
    assert {j["status"] for j in body["jobs"]} == {"succeeded"}
    assert (
        Bar.objects.filter(ticker__symbol="IBM", timeframe="daily").count()
        == body["jobs"][0]["rows_stored"]
        > 0
    )


def test_with_the_broker_down_a_large_request_waits_for_the_reconciler(user_client, switch_broker):
    switch_broker("redis://127.0.0.1:6390/0")
    symbols = ["A1", "A2", "A3", "A4"]
    body = user_client.post("/api/fetch", {"symbols": symbols}, content_type="application/json").json()
    assert body["ran_here"] == []
    assert "4 recorded, sent by the reconciler once the broker is back" in body["message"]
    assert set(FetchJob.objects.values_list("status", "published_at")) == {(JobStatus.QUEUED, None)}


def test_a_user_sees_only_their_own_jobs(client, clean_broker):
    mine = request_fetch(ticker=Ticker.objects.create(symbol="MINE"), timeframe="daily", reason=Reason.USER_REQUEST,
                         requested_by=make_user("owner")).job_id  # fmt: skip
    client.force_login(make_user("other"))
    assert client.get(f"/api/jobs/{mine}").status_code == 404
    client.force_login(make_user("boss", staff=True))
    assert client.get(f"/api/jobs/{mine}").json()["symbol"] == "MINE"


def test_new_bars_from_a_fetch_ask_for_their_analysis(clean_broker):
    ticker = Ticker.objects.create(symbol="AAPL")
    job = FetchJob.objects.get(
        id=request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED).job_id
    )
    run_fetch_job(job_id=job.id, token=job.dispatch_token)
    analysis = FetchJob.objects.filter(kind=JobKind.COMPUTE_INDICATORS)
    # one job for the ticker: its daily bars, and the weekly and monthly bars derived from them
    assert [(a.ticker, a.timeframe, a.queue, a.priority, a.reason, a.status, a.params) for a in analysis] == [
        (ticker, "daily", Queue.ANALYSIS, 8, Reason.ANALYSIS, JobStatus.QUEUED,
         {"timeframes": ["daily", "weekly", "monthly"]})
    ]  # fmt: skip
    analysis.update(status=JobStatus.SUCCEEDED)  # analysed; not active any more
    again = FetchJob.objects.get(
        id=request_fetch(ticker=ticker, timeframe="daily", reason=Reason.SCHEDULED).job_id
    )
    run_fetch_job(job_id=again.id, token=again.dispatch_token)  # nothing new: no second analysis
    assert FetchJob.objects.filter(kind=JobKind.COMPUTE_INDICATORS).count() == 1


def test_the_openapi_schema_lists_the_endpoints(user_client):
    response = user_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/bars/{symbol}", "/api/fetch", "/api/jobs/{job_id}", "/api/queues/stats"} <= set(paths)


def test_the_schema_documents_the_bars_response_as_the_object_it_is(user_client):
    """Found by the schema fuzzer (tests/test_api_fuzz.py): the schema said a bare list of bars."""
    store_daily("AAPL", 3)
    body = user_client.get("/api/bars/AAPL").json()
    schema = user_client.get("/api/schema/?format=json").json()
    documented = schema["paths"]["/api/bars/{symbol}"]["get"]["responses"]["200"]["content"]
    ref = documented["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    shape = schema["components"]["schemas"][ref]
    assert shape["type"] == "object"
    assert set(shape["properties"]) == set(body) == {"symbol", "timeframe", "count", "bars"}
    assert shape["properties"]["bars"]["type"] == "array"


def test_the_site_root_leads_to_the_dashboard_login(client):
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")
