"""Massive (formerly Polygon.io) REST aggregates: GET /v2/aggs/ticker/{symbol}/range/1/{timespan}/{from}/{to}.

- Prices are `adjusted=true` aggregates: split-adjusted, not dividend-adjusted (like Yahoo's raw Close).
- A daily aggregate's `t` is the session's New York midnight in ms; it becomes the session date at 00:00 UTC.
  Hourly aggregates are clock hours (09:00, 10:00 ... New York) and include pre- and after-market hours,
  as Massive delivers them. Weekly and monthly bars are rolled up here from daily aggregates with
  providers.aggregate.aggregate_bars, because Massive's own weeks start on Sunday.
- Pages are followed through `next_url`; its path and query are sent to MASSIVE_BASE_URL, so the API key
  never goes to a host other than the one configured.
- Massive answers 200 with no results both for a real ticker on a quiet range and for a ticker it does not
  know. Only then is /v3/reference/tickers/{symbol} asked: 404 there means SYMBOL_NOT_FOUND, else the
  answer is an empty frame.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import requests
from django.conf import settings

from ingest.errors import InvalidInput, ProviderError
from ingest.models import normalize_symbol
from ingest.providers.aggregate import aggregate_bars, as_utc, bars_in_range, period_key
from ingest.providers.base import BAR_COLUMNS, empty_bars
from stockhub.errors import ErrorCode

logger = logging.getLogger(__name__)

TIMESPANS = {"hourly": "hour", "daily": "day", "weekly": "day", "monthly": "day"}
PAGE_LIMIT = 50_000  # Massive's maximum base aggregates per page: ~200 years of daily bars, ~8 of hourly
MAX_PAGES = 100  # a next_url that never ends is a server bug, not more data
# Sent when a 429 carries no Retry-After: the free plan allows 5 requests a minute.
DEFAULT_RETRY_AFTER_SECONDS = 60.0


class MassiveProvider:
    name = "massive"

    def __init__(
        self, *, api_key: str | None = None, base_url: str | None = None, timeout_seconds: float | None = None
    ) -> None:
        self.api_key = api_key if api_key is not None else settings.MASSIVE_API_KEY
        self.base_url = (base_url or settings.MASSIVE_BASE_URL).rstrip("/")
        self.timeout_seconds = timeout_seconds or settings.STOCKHUB_PROVIDER_TIMEOUT_SECONDS

    def fetch_bars(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Massive's bars of `symbol` in [start, end]; an empty frame when a known ticker has none there."""
        if timeframe not in TIMESPANS:
            raise InvalidInput(f"timeframe {timeframe!r} is unknown; use one of {', '.join(TIMESPANS)}")
        if not self.api_key:
            raise ProviderError(
                "MASSIVE_API_KEY is not set; put your Massive (Polygon) API key in the environment",
                code=ErrorCode.API_KEY_INVALID,
            )
        symbol = normalize_symbol(symbol)
        first = period_key(start, timeframe)
        path = (
            f"/v2/aggs/ticker/{symbol}/range/1/{TIMESPANS[timeframe]}/{first:%Y-%m-%d}/{as_utc(end):%Y-%m-%d}"
        )
        results = self._all_pages(path, {"adjusted": "true", "sort": "asc", "limit": str(PAGE_LIMIT)}, symbol)
        if not results:
            self._check_ticker_exists(symbol)
            return empty_bars()
        bars = _to_bars(results, daily=TIMESPANS[timeframe] == "day")
        if timeframe in ("weekly", "monthly"):
            bars = aggregate_bars(bars_in_range(bars, "daily", first, end), timeframe)
        return bars_in_range(bars, timeframe, start, end).reset_index(drop=True)

    def _all_pages(self, path: str, params: dict[str, str], symbol: str) -> list[dict]:
        results: list[dict] = []
        for _ in range(MAX_PAGES):
            payload = self._get_json(path, params, symbol)
            page = payload.get("results") or []
            if not isinstance(page, list):
                raise ProviderError(
                    f"Massive sent `results` that is not a list for {symbol}", code=ErrorCode.PROVIDER_ERROR
                )
            results.extend(page)
            next_url = payload.get("next_url")
            if not next_url:
                return results
            parts = urlsplit(next_url)  # its own query (cursor=...) replaces ours; the key is added again
            path, params = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
        raise ProviderError(
            f"Massive sent more than {MAX_PAGES} pages for {symbol}", code=ErrorCode.PROVIDER_ERROR
        )

    def _check_ticker_exists(self, symbol: str) -> None:
        """Raise SYMBOL_NOT_FOUND (its 404) when Massive's reference data has no such ticker."""
        self._get_json(f"/v3/reference/tickers/{symbol}", {}, symbol)
        logger.info("massive no bars ticker=%s: a known ticker with a quiet range", symbol)

    def _get_json(self, path: str, params: dict[str, str], symbol: str) -> dict:
        url = f"{self.base_url}{path}"
        try:
            response = requests.get(
                url, params={**params, "apiKey": self.api_key}, timeout=self.timeout_seconds
            )
        except requests.Timeout as error:
            raise ProviderError(
                f"Massive did not answer for {symbol} within {self.timeout_seconds:g}s",
                code=ErrorCode.NETWORK_TIMEOUT,
                retryable=True,
            ) from error
        except requests.RequestException as error:  # connection refused, DNS, reset: the network, not us
            raise ProviderError(
                f"could not reach Massive at {self.base_url} for {symbol}: {type(error).__name__}",
                code=ErrorCode.NETWORK_TIMEOUT,
                retryable=True,
            ) from error
        if response.status_code != 200:
            raise _status_error(response, symbol)
        try:
            payload = response.json()
        except ValueError as error:  # a proxy's HTML page where JSON was due: usually passes
            raise ProviderError(
                f"Massive sent no JSON for {symbol}: {response.text[:200]!r}",
                code=ErrorCode.PROVIDER_ERROR,
                retryable=True,
            ) from error
        if not isinstance(payload, dict):
            raise ProviderError(
                f"Massive sent {type(payload).__name__}, not an object, for {symbol}",
                code=ErrorCode.PROVIDER_ERROR,
            )
        return payload


def _status_error(response: requests.Response, symbol: str) -> ProviderError:
    status = response.status_code
    detail = _server_message(response)
    if status == 429:
        return ProviderError(
            f"Massive rate limit hit fetching {symbol}: {detail}",
            code=ErrorCode.API_RATE_LIMIT,
            retryable=True,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    if status in (401, 403):  # 401: unknown key; 403: the key's plan does not cover this data
        return ProviderError(
            f"Massive refused MASSIVE_API_KEY ({status}): {detail}", code=ErrorCode.API_KEY_INVALID
        )
    if status == 404:
        return ProviderError(f"Massive does not know {symbol}: {detail}", code=ErrorCode.SYMBOL_NOT_FOUND)
    return ProviderError(
        f"Massive answered {status} for {symbol}: {detail}",
        code=ErrorCode.PROVIDER_ERROR,
        retryable=status >= 500,
    )


def _server_message(response: requests.Response) -> str:
    """Massive's own words: `error` or `message` in its JSON body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body.get("status") or body)
    return str(body)[:200]


def _retry_after(value: str | None) -> float:
    """Retry-After in seconds (it may also be an HTTP date); the default when absent or unreadable."""
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    if value.strip().isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


def _to_bars(results: list[dict], *, daily: bool) -> pd.DataFrame:
    """Massive's o/h/l/c/v/t rows as BAR_COLUMNS; a missing field becomes NaN for the validator to count."""
    rows = pd.DataFrame.from_records(results)
    rows = rows.reindex(columns=["t", "o", "h", "l", "c", "v"])
    start = pd.to_datetime(pd.to_numeric(rows["t"], errors="coerce"), unit="ms", utc=True)
    if daily:  # New York midnight -> that date at 00:00 UTC
        start = start.dt.tz_convert(settings.STOCKHUB_MARKET_TIME_ZONE).dt.tz_localize(None).dt.normalize()
        start = start.dt.tz_localize("UTC")
    bars = pd.DataFrame(
        {
            "ts": start.astype("datetime64[ns, UTC]"),
            "open": rows["o"],
            "high": rows["h"],
            "low": rows["l"],
            "close": rows["c"],
            "volume": rows["v"],
        }
    )
    return bars[BAR_COLUMNS]
