"""The yfinance adapter on Yahoo's real wire format: only curl_cffi's Session.request is replaced.

yfinance itself runs for real: the cookie and crumb dance, the time-zone lookup, the chart request and its
parsing and cleaning. FakeYahoo answers the URLs Yahoo serves; any other request fails the test.
"""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import requests
import yfinance.base
import yfinance.cache
import yfinance.data
from curl_cffi.requests import Response, Session
from curl_cffi.requests.exceptions import Timeout
from curl_cffi.requests.headers import Headers

from ingest.errors import InvalidInput, ProviderError
from ingest.providers.yfinance import YFinanceProvider, yahoo_symbol
from stockhub.errors import ErrorCode

PAYLOADS = Path(__file__).parent / "payloads"
CHART = "https://query2.finance.yahoo.com/v8/finance/chart/"
QUOTE_SUMMARY = "https://query2.finance.yahoo.com/v10/finance/quoteSummary/"
CRUMB_URLS = (
    "https://query1.finance.yahoo.com/v1/test/getcrumb",
    "https://query2.finance.yahoo.com/v1/test/getcrumb",
)


def _response(url: str, status: int, body: bytes, content_type: str) -> Response:
    response = Response()
    response.url, response.status_code, response.ok = url, status, 200 <= status < 400
    response.reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}.get(status, "")
    response.headers = Headers({"Content-Type": content_type})
    response.content = body
    return response


class FakeYahoo:
    """Yahoo's servers as yfinance 1.7 meets them; `mode` switches AAPL's chart to an error."""

    def __init__(self) -> None:
        self.mode = "ok"  # "ok" | "no_bars" | "rate_limited" | "timeout"
        self.chart_requests: list[dict] = []
        self.unexpected: list[str] = []

    def __call__(self, method: str, url: str, params: dict | None = None, **kwargs) -> Response:
        base = url.split("?")[0]
        if base == "https://fc.yahoo.com":  # the cookie page: 404 is its real status
            return _response(url, 404, b"<html><body>Not Found</body></html>", "text/html")
        if base in CRUMB_URLS:
            if self.mode == "rate_limited":
                return _response(url, 429, (PAYLOADS / "yahoo_429.txt").read_bytes(), "text/html")
            return _response(url, 200, b"Zq3iGm8bT2e", "text/plain;charset=utf-8")
        if base == "https://guce.yahoo.com/consent":  # no consent form outside the EU
            return _response(url, 200, b"<html><body></body></html>", "text/html")
        if base.startswith(CHART):
            return self._chart(url, base.removeprefix(CHART), dict(params or {}))
        if base.startswith(QUOTE_SUMMARY):
            body = (PAYLOADS / "yahoo_quote_summary_unknown_symbol.json").read_bytes()
            return _response(url, 404, body, "application/json;charset=utf-8")
        if base == "https://query1.finance.yahoo.com/v7/finance/quote":
            return _response(url, 200, b'{"quoteResponse":{"result":[],"error":null}}', "application/json")
        self.unexpected.append(f"{method} {url}")
        raise AssertionError(f"unexpected request to {url}: this test must not reach the network")

    def _chart(self, url: str, symbol: str, params: dict) -> Response:
        self.chart_requests.append({"symbol": symbol, **params})
        if symbol != "AAPL":
            return _response(
                url, 404, (PAYLOADS / "yahoo_chart_unknown_symbol.json").read_bytes(), "application/json"
            )
        if self.mode == "rate_limited":
            return _response(url, 429, (PAYLOADS / "yahoo_429.txt").read_bytes(), "text/html")
        if self.mode == "timeout":
            raise Timeout("Failed to perform, curl: (28) Operation timed out after 2001 milliseconds", 28)
        payload = {"1d": "yahoo_chart_AAPL_1d.json", "1h": "yahoo_chart_AAPL_1h.json"}[params["interval"]]
        if self.mode == "no_bars" and "period1" in params:  # a range without sessions: meta, no timestamps
            payload = "yahoo_chart_AAPL_1d_no_bars.json"
        return _response(url, 200, (PAYLOADS / payload).read_bytes(), "application/json;charset=utf-8")


@pytest.fixture
def yahoo(monkeypatch):
    """yfinance with a fresh session, no on-disk caches, and FakeYahoo in place of the internet."""
    fake = FakeYahoo()
    monkeypatch.setattr(
        Session, "request", lambda session, method, url, **kwargs: fake(method, url, **kwargs)
    )

    def no_network(*args, **kwargs):
        raise AssertionError("yfinance tried to use requests: this test must not reach the network")

    monkeypatch.setattr(requests.Session, "request", no_network)
    monkeypatch.setattr(yfinance.cache._TzCacheManager, "_tz_cache", yfinance.cache._TzCacheDummy())
    monkeypatch.setattr(
        yfinance.cache._CookieCacheManager, "_Cookie_cache", yfinance.cache._CookieCacheDummy()
    )
    monkeypatch.delitem(yfinance.data.SingletonMeta._instances, yfinance.data.YfData, raising=False)
    yfinance.data.YfData.cache_get.cache_clear()
    yield fake
    yfinance.data.YfData.cache_get.cache_clear()
    assert fake.unexpected == [], f"requests that would have left the machine: {fake.unexpected}"


def provider(now: datetime) -> YFinanceProvider:
    return YFinanceProvider(now=lambda: now, timeout_seconds=2)


def test_daily_bars_are_keyed_by_session_date_at_midnight_utc(yahoo):
    bars = provider(datetime(2024, 1, 16, tzinfo=UTC)).fetch_bars(
        "AAPL", "daily", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 12, tzinfo=UTC)
    )
    assert len(bars) == 9
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-01-02", tz="UTC")
    assert bars["ts"].iloc[-1] == pd.Timestamp("2024-01-12", tz="UTC")
    assert set(bars["ts"].dt.hour) == {0}
    # Yahoo's float32 prices as they are on the wire; Close is the raw close, not "adjclose"
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        187.14999389648438,
        188.44000244140625,
        183.88499450683594,
        185.63999938964844,
        82488700,
    )


def test_daily_request_asks_yahoo_for_the_exchange_day_with_crumb_and_without_adjustment(yahoo):
    provider(datetime(2024, 1, 16, tzinfo=UTC)).fetch_bars(
        "AAPL", "daily", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 12, tzinfo=UTC)
    )
    history = yahoo.chart_requests[-1]
    assert history["interval"] == "1d"
    assert history["period1"] == int(pd.Timestamp("2024-01-02", tz="America/New_York").timestamp())
    assert history["period2"] == int(pd.Timestamp("2024-01-13", tz="America/New_York").timestamp())
    assert history["crumb"] == "Zq3iGm8bT2e"
    assert yahoo.chart_requests[0] == {
        "symbol": "AAPL",
        "range": "1d",
        "interval": "1d",
        "crumb": "Zq3iGm8bT2e",
    }


def test_hourly_bars_start_on_the_half_hour_in_utc_and_respect_the_early_close(yahoo):
    bars = provider(datetime(2025, 12, 2, tzinfo=UTC)).fetch_bars(
        "AAPL", "hourly", datetime(2025, 11, 28, tzinfo=UTC), datetime(2025, 12, 1, 23, tzinfo=UTC)
    )
    # the day after Thanksgiving closes at 13:00 New York: four bars; Monday has seven. The zero-volume
    # close ticks Yahoo appends (13:00, 16:00) are dropped by yfinance.
    assert [ts.strftime("%m-%d %H:%M") for ts in bars["ts"]] == [
        "11-28 14:30",
        "11-28 15:30",
        "11-28 16:30",
        "11-28 17:30",
        "12-01 14:30",
        "12-01 15:30",
        "12-01 16:30",
        "12-01 17:30",
        "12-01 18:30",
        "12-01 19:30",
        "12-01 20:30",
    ]
    assert str(bars["ts"].dt.tz) == "UTC"
    last = bars.iloc[-1]
    assert (last["open"], last["close"], last["volume"]) == (283.0, 283.1000061035156, 6543210)
    assert yahoo.chart_requests[-1]["interval"] == "1h"


def test_hourly_start_older_than_730_days_is_moved_up(yahoo):
    now = datetime(2025, 12, 2, tzinfo=UTC)
    provider(now).fetch_bars(
        "AAPL", "hourly", datetime(2020, 1, 1, tzinfo=UTC), datetime(2025, 12, 1, 23, tzinfo=UTC)
    )
    oldest = pd.Timestamp(now) - pd.Timedelta(days=729)
    assert yahoo.chart_requests[-1]["period1"] == int(oldest.floor("h").timestamp())


def test_hourly_range_entirely_older_than_730_days_is_invalid_input(yahoo):
    with pytest.raises(InvalidInput, match="730 days"):
        provider(datetime(2025, 12, 2, tzinfo=UTC)).fetch_bars(
            "AAPL", "hourly", datetime(2021, 1, 4, tzinfo=UTC), datetime(2021, 1, 8, tzinfo=UTC)
        )
    assert yahoo.chart_requests == []


def test_a_known_symbol_without_bars_in_the_range_is_an_empty_frame(yahoo):
    yahoo.mode = "no_bars"
    bars = provider(datetime(2024, 1, 16, tzinfo=UTC)).fetch_bars(
        "AAPL", "daily", datetime(2024, 1, 13, tzinfo=UTC), datetime(2024, 1, 14, tzinfo=UTC)
    )
    assert bars.empty
    assert list(bars.columns) == ["ts", "open", "high", "low", "close", "volume"]


@pytest.mark.parametrize("info_fallback_calls", [0, 2], ids=["via-quoteSummary", "via-missing-timezone"])
def test_unknown_symbol_is_symbol_not_found(yahoo, monkeypatch, info_fallback_calls):
    # yfinance asks quoteSummary for a time zone only on its first two failures in a process
    monkeypatch.setattr(yfinance.base, "_tz_info_fetch_ctr", info_fallback_calls)
    with pytest.raises(ProviderError) as caught:
        provider(datetime(2024, 1, 16, tzinfo=UTC)).fetch_bars(
            "ZZZZ", "daily", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 12, tzinfo=UTC)
        )
    assert caught.value.code == ErrorCode.SYMBOL_NOT_FOUND
    assert caught.value.retryable is False


def test_too_many_requests_is_a_retryable_rate_limit(yahoo):
    yahoo.mode = "rate_limited"
    with pytest.raises(ProviderError) as caught:
        provider(datetime(2024, 1, 16, tzinfo=UTC)).fetch_bars(
            "AAPL", "daily", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 12, tzinfo=UTC)
        )
    assert caught.value.code == ErrorCode.API_RATE_LIMIT
    assert caught.value.retryable is True
    assert caught.value.retry_after == 60


def test_a_timeout_is_a_retryable_network_timeout(yahoo):
    yahoo.mode = "timeout"
    with pytest.raises(ProviderError) as caught:
        provider(datetime(2024, 1, 16, tzinfo=UTC)).fetch_bars(
            "AAPL", "daily", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 12, tzinfo=UTC)
        )
    assert caught.value.code == ErrorCode.NETWORK_TIMEOUT
    assert caught.value.retryable is True


def test_class_shares_are_spelt_with_a_dash_for_yahoo():
    assert [yahoo_symbol(s) for s in ["BRK.B", "brk-b", "AAPL", "^GSPC", "SHOP.TO"]] == [
        "BRK-B",
        "BRK-B",
        "AAPL",
        "^GSPC",
        "SHOP.TO",
    ]
