"""The analysis API: indicators and patterns of a ticker, the screen, and errors that say what to fix."""

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator

from analysis import indicators
from analysis.models import PatternKind
from analysis.services import analyze_ticker
from analysis.tests.factories import random_walk, store
from ingest.models import Universe, UniverseKind

pytestmark = [pytest.mark.django_db, pytest.mark.urls("analysis.tests.urls")]


@pytest.fixture
def user():
    return get_user_model().objects.create_user(username="reader", password="pw-for-tests-only")


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def analysed():
    """Two tickers with 300 analysed daily bars each."""
    tickers = [store(symbol, random_walk(300, seed=seed)) for seed, symbol in enumerate(["AAPL", "MSFT"])]
    for ticker in tickers:
        analyze_ticker(ticker_id=ticker.id, timeframe="daily")
    return tickers


def test_the_api_requires_a_login(client, analysed):
    assert client.get("/api/indicators/AAPL").status_code == 403
    assert client.get("/api/patterns").status_code == 403


def test_indicators_of_a_ticker_newest_rows_with_the_chosen_names(client_in, analysed):
    body = client_in.get("/api/indicators/aapl?names=rsi_14,macd&limit=3").json()
    assert body["symbol"] == "AAPL" and body["timeframe"] == "daily" and body["count"] == 3
    assert body["names"] == ["rsi_14", "macd"]
    assert body["columns"] == ["rsi_14", "macd", "macd_signal", "macd_hist"]
    assert set(body["rows"][0]) == {"ts", "rsi_14", "macd", "macd_signal", "macd_hist"}
    assert body["rows"][-1]["ts"] == "2016-02-25T00:00:00Z"  # the 300th business day from 2015-01-02
    assert body["rows"][0]["ts"] < body["rows"][1]["ts"] < body["rows"][2]["ts"]


def test_indicators_before_enough_history_are_null(client_in, analysed):
    body = client_in.get("/api/indicators/AAPL?names=sma_200&start=2015-01-02&limit=201").json()
    values = [row["sma_200"] for row in body["rows"]]
    assert values[:199] == [None] * 199 and values[199] is not None


def test_all_daily_indicators_by_default_without_vwap(client_in, analysed):
    body = client_in.get("/api/indicators/MSFT?limit=1").json()
    assert body["columns"] == [c for c in indicators.OUTPUT_COLUMNS if c != "vwap"]


def test_unknown_indicator_names_are_a_400_listing_the_valid_ones(client_in, analysed):
    response = client_in.get("/api/indicators/AAPL?names=rsi_14,rsi_99")
    assert response.status_code == 400
    body = response.json()
    assert "unknown indicator(s) rsi_99" in body["error"]
    assert all(name in body["error"] for name in indicators.INDICATORS)
    assert "names" in body["detail"]


def test_unknown_symbol_is_a_404(client_in, analysed):
    response = client_in.get("/api/indicators/NOPE")
    assert response.status_code == 404
    assert response.json()["error"] == "no ticker 'NOPE'"
    assert client_in.get("/api/patterns/NOPE").status_code == 404


def test_patterns_of_a_ticker_filtered_by_kind_and_since(client_in, analysed):
    body = client_in.get("/api/patterns/AAPL?kinds=doji,gap_up&since=2015-06-01").json()
    assert body["symbol"] == "AAPL" and body["count"] > 0
    assert {event["kind"] for event in body["events"]} <= {"doji", "gap_up"}
    assert all(event["ts"] >= "2015-06-01" and event["symbol"] == "AAPL" for event in body["events"])
    assert [e["ts"] for e in body["events"]] == sorted((e["ts"] for e in body["events"]), reverse=True)


def test_unknown_pattern_kinds_are_a_400_listing_the_valid_ones(client_in, analysed):
    response = client_in.get("/api/patterns/AAPL?kinds=doji,unicorn")
    assert response.status_code == 400
    assert "unknown pattern kind(s) unicorn" in response.json()["error"]
    assert all(kind in response.json()["error"] for kind in PatternKind.values)


def test_the_screen_spans_tickers_and_can_be_limited_to_a_universe(client_in, user, analysed):
    everything = client_in.get("/api/patterns?kinds=doji&limit=5000").json()
    assert {event["symbol"] for event in everything["events"]} == {"AAPL", "MSFT"}
    index = Universe.objects.create(slug="tech", name="Tech", kind=UniverseKind.INDEX)
    index.members.add(analysed[1])
    screened = client_in.get("/api/patterns?universe=tech&since=2016-01-01").json()
    assert screened["count"] > 0 and {event["symbol"] for event in screened["events"]} == {"MSFT"}


def test_someone_elses_universe_is_unknown_to_the_screen(client_in, analysed):
    other = get_user_model().objects.create_user(username="other", password="pw-for-tests-only")
    Universe.objects.create(slug="private", name="Mine", owner=other)
    response = client_in.get("/api/patterns?universe=private")
    assert response.status_code == 400
    assert "unknown universe 'private'" in response.json()["error"]


def test_the_endpoints_are_documented_in_the_openapi_schema():
    schema = SchemaGenerator(urlconf="analysis.tests.urls").get_schema(request=None, public=True)
    paths = schema["paths"]
    assert {"/api/indicators/{symbol}", "/api/patterns/{symbol}", "/api/patterns"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/patterns"]["get"]["parameters"]}
    assert {"since", "kinds", "universe", "timeframe"} <= parameters
