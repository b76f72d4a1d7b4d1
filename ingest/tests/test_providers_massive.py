"""The Massive (Polygon) adapter against a real HTTP server on 127.0.0.1 replaying recorded payloads."""

from collections.abc import Iterator

import pandas as pd
import pytest

from ingest.errors import ProviderError
from ingest.providers import get_provider
from ingest.tests.fake_massive import API_KEY, Answer, FakeMassive, recorded_aapl, serving
from stockhub.errors import ErrorCode

JAN_2, JAN_12 = pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-12", tz="UTC")


@pytest.fixture
def massive(settings) -> Iterator[FakeMassive]:
    with serving() as server:
        settings.MASSIVE_BASE_URL = server.url
        settings.MASSIVE_API_KEY = API_KEY
        settings.STOCKHUB_PROVIDER_TIMEOUT_SECONDS = 2.0
        yield server


def fetch(symbol: str = "AAPL", timeframe: str = "daily", start=JAN_2, end=JAN_12) -> pd.DataFrame:
    return get_provider("massive").fetch_bars(symbol, timeframe, start.to_pydatetime(), end.to_pydatetime())


def fetch_error(**kwargs) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        fetch(**kwargs)
    return caught.value


def test_daily_bars_follow_next_url_and_are_keyed_by_session_date(massive):
    bars = fetch()
    assert len(bars) == 9
    assert list(bars["ts"]) == list(
        pd.to_datetime(
            [
                "2024-01-02",
                "2024-01-03",
                "2024-01-04",
                "2024-01-05",
                "2024-01-08",
                "2024-01-09",
                "2024-01-10",
                "2024-01-11",
                "2024-01-12",
            ]
        ).tz_localize("UTC")
    )
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        187.15,
        188.44,
        183.885,
        185.64,
        82488700.0,
    )
    (first_path, first_query), (next_path, next_query) = massive.requests
    assert first_path == "/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-12"
    assert first_query == {"adjusted": "true", "sort": "asc", "limit": "50000", "apiKey": API_KEY}
    # next_url's path and cursor, sent to our base URL (not api.massive.com) with the key appended
    assert next_path == "/v2/aggs/ticker/AAPL/range/1/day/1704776400000/2024-01-12"
    assert next_query == {"cursor": "bGltaXQ9NSZzb3J0PWFzYw", "apiKey": API_KEY}


def test_hourly_bars_keep_their_start_of_hour_in_utc(massive):
    bars = fetch(timeframe="hourly", start=JAN_2, end=pd.Timestamp("2024-01-02 23:00", tz="UTC"))
    # 04:00, 09:00, 10:00 and 15:00 New York (EST) as Massive sends them, pre-market included
    assert [ts.strftime("%H:%M") for ts in bars["ts"]] == ["09:00", "14:00", "15:00", "20:00"]
    assert massive.requests[0][0] == "/v2/aggs/ticker/AAPL/range/1/hour/2024-01-02/2024-01-02"


def test_weekly_bars_are_rolled_up_from_daily_aggregates_and_keyed_by_monday(massive):
    bars = fetch(timeframe="weekly")
    assert list(bars["ts"]) == [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-08", tz="UTC")]
    week = bars.iloc[0]  # Tue 2 .. Fri 5 January
    assert (week["open"], week["high"], week["low"], week["close"], week["volume"]) == (
        187.15,
        188.44,
        180.17,
        181.18,
        82488700.0 + 58414500 + 71983600 + 62303300,
    )
    assert massive.requests[0][0] == "/v2/aggs/ticker/AAPL/range/1/day/2024-01-01/2024-01-12"


def test_unknown_ticker_is_symbol_not_found(massive):
    error = fetch_error(symbol="ZZZZ")
    assert error.code == ErrorCode.SYMBOL_NOT_FOUND
    assert error.retryable is False
    assert [path for path, _ in massive.requests] == [
        "/v2/aggs/ticker/ZZZZ/range/1/day/2024-01-02/2024-01-12",
        "/v3/reference/tickers/ZZZZ",
    ]


def test_known_ticker_without_bars_in_the_range_is_an_empty_frame(massive):
    massive.answer = lambda path, query: (
        Answer(200, "massive_aggs_empty.json") if path.startswith("/v2/") else recorded_aapl(path, query)
    )
    bars = fetch(start=pd.Timestamp("2024-01-13", tz="UTC"), end=pd.Timestamp("2024-01-14", tz="UTC"))
    assert bars.empty
    assert list(bars.columns) == ["ts", "open", "high", "low", "close", "volume"]


def test_rate_limit_is_retryable_after_the_servers_retry_after(massive):
    massive.answer = lambda path, query: Answer(429, "massive_429.json", headers={"Retry-After": "17"})
    error = fetch_error()
    assert (error.code, error.retryable, error.retry_after) == (ErrorCode.API_RATE_LIMIT, True, 17.0)
    assert "exceeded the maximum requests per minute" in error.message


def test_rate_limit_without_retry_after_waits_a_minute(massive):
    massive.answer = lambda path, query: Answer(429, "massive_429.json")
    assert fetch_error().retry_after == 60.0


@pytest.mark.parametrize("status, payload", [(401, "massive_401.json"), (403, "massive_403.json")])
def test_a_refused_key_is_api_key_invalid_and_not_retried(massive, status, payload):
    massive.answer = lambda path, query: Answer(status, payload)
    error = fetch_error()
    assert (error.code, error.retryable) == (ErrorCode.API_KEY_INVALID, False)
    assert "MASSIVE_API_KEY" in error.message


def test_a_missing_key_names_the_variable_without_calling_massive(massive, settings):
    settings.MASSIVE_API_KEY = ""
    error = fetch_error()
    assert error.code == ErrorCode.API_KEY_INVALID
    assert "MASSIVE_API_KEY is not set" in error.message
    assert massive.requests == []


def test_a_slow_server_is_a_retryable_network_timeout(massive, settings):
    settings.STOCKHUB_PROVIDER_TIMEOUT_SECONDS = 0.2
    massive.answer = lambda path, query: Answer(200, "massive_aggs_AAPL_day_page2.json", delay_seconds=1.5)
    error = fetch_error()
    assert (error.code, error.retryable) == (ErrorCode.NETWORK_TIMEOUT, True)


def test_a_server_error_is_a_retryable_provider_error(massive):
    massive.answer = lambda path, query: Answer(503, "massive_429.json")
    error = fetch_error()
    assert (error.code, error.retryable) == (ErrorCode.PROVIDER_ERROR, True)
