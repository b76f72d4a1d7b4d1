"""Yahoo Finance bars through the yfinance library, with Yahoo's quirks turned into typed ProviderErrors.

- Prices are Yahoo's raw OHLC (auto_adjust=False): split-adjusted, not dividend-adjusted, like Massive's
  adjusted=true aggregates. Yahoo's "Adj Close" is not used.
- Class shares are spelt with a dash at Yahoo: BRK.B is asked for as BRK-B.
- Yahoo keys a daily bar by the exchange-local midnight; it becomes the session date at 00:00 UTC. Weekly bars
  are keyed by Monday, monthly by the 1st. Hourly bars start at :30 (09:30 .. 15:30 New York) and come in UTC.
- Yahoo serves 1h bars for the last 730 days only: an older start is moved up (and logged), a range that
  ends before that is InvalidInput.
- yfinance retries nothing here (its network.retries stays 0): JobTask owns retries and backoff.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import requests
import yfinance as yf
from curl_cffi.requests import exceptions as curl_errors
from django.conf import settings
from yfinance.exceptions import YFException, YFPricesMissingError, YFRateLimitError, YFTzMissingError

from ingest.errors import InvalidInput, ProviderError
from ingest.models import normalize_symbol
from ingest.providers.aggregate import as_utc, bars_in_range, period_key, period_start
from ingest.providers.base import BAR_COLUMNS, empty_bars
from stockhub.errors import ErrorCode

logger = logging.getLogger(__name__)

# By default yfinance logs most failures and returns an empty frame, which would make an unknown symbol, a
# timeout and a quiet day look the same. Raising lets each become its own error code.
yf.config.debug.hide_exceptions = False

INTERVALS = {"hourly": "1h", "daily": "1d", "weekly": "1wk", "monthly": "1mo"}
# Yahoo answers "1h data not available ... must be within the last 730 days"; a day of margin keeps a start
# near the limit from failing on time-zone rounding.
HOURLY_HISTORY_DAYS = 729
# Yahoo sends no Retry-After with its 429; its limit is per IP over roughly a minute.
RATE_LIMIT_RETRY_SECONDS = 60.0
_TIMEOUTS = (curl_errors.Timeout, requests.Timeout, TimeoutError)
_HTTP_ERRORS = (curl_errors.HTTPError, requests.HTTPError)
_NETWORK_ERRORS = (curl_errors.RequestException, requests.RequestException)
# Everything yfinance lets through that _provider_error can name; anything else is a bug and propagates.
_FAILURES = (YFException, *_TIMEOUTS, *_NETWORK_ERRORS, json.JSONDecodeError, KeyError, IndexError, TypeError)


def yahoo_symbol(symbol: str) -> str:
    """Our symbol as Yahoo spells it: BRK.B -> BRK-B; SHOP.TO and ^GSPC stay as they are."""
    symbol = normalize_symbol(symbol)
    head, dot, tail = symbol.rpartition(".")
    return f"{head}-{tail}" if dot and head and len(tail) == 1 and tail.isalpha() else symbol


class YFinanceProvider:
    name = "yfinance"

    def __init__(
        self, *, now: Callable[[], datetime] | None = None, timeout_seconds: float | None = None
    ) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self.timeout_seconds = timeout_seconds or settings.STOCKHUB_PROVIDER_TIMEOUT_SECONDS

    def fetch_bars(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Yahoo's bars of `symbol` in [start, end]; an empty frame when a known symbol has none there."""
        if timeframe not in INTERVALS:
            raise InvalidInput(f"timeframe {timeframe!r} is unknown; use one of {', '.join(INTERVALS)}")
        now = as_utc(self._now())
        start, end = as_utc(start), min(as_utc(end), now)
        if timeframe == "hourly":
            start = self._hourly_start(symbol, start, end, now)
        ticker = yahoo_symbol(symbol)
        history = self._history(ticker, timeframe, start, end)
        if history.empty:
            return empty_bars()
        return bars_in_range(_to_bars(history, timeframe), timeframe, start, end).reset_index(drop=True)

    def _hourly_start(
        self, symbol: str, start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp
    ) -> pd.Timestamp:
        oldest = now - timedelta(days=HOURLY_HISTORY_DAYS)
        if end < oldest:
            raise InvalidInput(
                f"Yahoo keeps hourly bars for the last 730 days only; {symbol} "
                f"{start:%Y-%m-%d}..{end:%Y-%m-%d} is older: ask for daily bars, or use another provider "
                "(STOCKHUB_PROVIDER)"
            )
        if start < oldest:
            logger.info("yfinance hourly start moved up ticker=%s from=%s to=%s", symbol, start, oldest)
            return oldest
        return start

    def _history(self, ticker: str, timeframe: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        if timeframe == "hourly":  # yfinance's `end` is exclusive
            first, after = start.floor("h").to_pydatetime(), (end + timedelta(hours=1)).to_pydatetime()
        else:  # dates: yfinance reads them as midnight at the exchange
            first, after = period_key(start, timeframe).date(), end.date() + timedelta(days=1)
        try:
            return yf.Ticker(ticker).history(
                start=first,
                end=after,
                interval=INTERVALS[timeframe],
                auto_adjust=False,
                actions=False,
                timeout=self.timeout_seconds,
            )
        except YFPricesMissingError as error:
            return _no_prices(ticker, error)
        except _FAILURES as error:
            raise _provider_error(ticker, error, timeout_seconds=self.timeout_seconds) from error


def _provider_error(ticker: str, error: Exception, *, timeout_seconds: float) -> ProviderError:
    """What went wrong inside yfinance, as the ProviderError whose code decides retry or failure."""
    if isinstance(error, YFRateLimitError):
        return _rate_limited(ticker)
    if isinstance(error, YFTzMissingError):  # Yahoo knows no exchange, hence no time zone, for the symbol
        return _not_found(ticker, error)
    if isinstance(error, YFException):  # e.g. "Yahoo Finance is currently down"
        return ProviderError(
            f"Yahoo failed for {ticker}: {error}", code=ErrorCode.PROVIDER_ERROR, retryable=True
        )
    if isinstance(error, _TIMEOUTS):
        message = f"Yahoo did not answer for {ticker} within {timeout_seconds:g}s: {error}"
        return ProviderError(message, code=ErrorCode.NETWORK_TIMEOUT, retryable=True)
    if isinstance(error, _HTTP_ERRORS):
        return _http_error(ticker, error)
    if isinstance(error, json.JSONDecodeError):  # an HTML error page where JSON was due: usually passes
        return ProviderError(
            f"Yahoo sent no JSON for {ticker}: {error}", code=ErrorCode.PROVIDER_ERROR, retryable=True
        )
    if isinstance(error, _NETWORK_ERRORS):  # connection refused, DNS, reset
        message = f"could not reach Yahoo for {ticker}: {error}"
        return ProviderError(message, code=ErrorCode.NETWORK_TIMEOUT, retryable=True)
    # KeyError, IndexError, TypeError: the payload's shape changed under yfinance
    return ProviderError(f"unexpected Yahoo payload for {ticker}: {error!r}", code=ErrorCode.PROVIDER_ERROR)


def _rate_limited(ticker: str) -> ProviderError:
    return ProviderError(
        f"Yahoo rate limit hit fetching {ticker}",
        code=ErrorCode.API_RATE_LIMIT,
        retryable=True,
        retry_after=RATE_LIMIT_RETRY_SECONDS,
    )


def _not_found(ticker: str, error: Exception) -> ProviderError:
    return ProviderError(f"Yahoo does not know {ticker}: {error}", code=ErrorCode.SYMBOL_NOT_FOUND)


def _no_prices(ticker: str, error: YFPricesMissingError) -> pd.DataFrame:
    """No rows: Yahoo's own reason (chart.error) means an unknown symbol; no reason means a quiet range."""
    reason = error.yahoo_reason
    if reason is None:
        logger.info("yfinance no bars ticker=%s detail=%s", ticker, error.debug_info)
        return empty_bars()
    lowered = reason.lower()
    if "not found" in lowered or "delisted" in lowered or "no data found" in lowered:
        raise _not_found(ticker, error)
    raise ProviderError(f"Yahoo refused {ticker}: {reason}", code=ErrorCode.PROVIDER_ERROR)


def _http_error(ticker: str, error: Exception) -> ProviderError:
    """An HTTP status yfinance passed on (429 it turns into YFRateLimitError itself).

    404 comes from quoteSummary, which yfinance asks for the time zone of a symbol its chart did not know.
    """
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status == 404:
        return _not_found(ticker, error)
    if status == 429:
        return _rate_limited(ticker)
    # 401/403 from Yahoo are cookie/crumb trouble (we hold no key), 5xx its servers: both usually pass
    retryable = status is None or status in (401, 403) or status >= 500
    return ProviderError(
        f"Yahoo answered {status} for {ticker}: {error}", code=ErrorCode.PROVIDER_ERROR, retryable=retryable
    )


def _to_bars(history: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    index = history.index
    if timeframe == "hourly":
        ts = pd.Series(index.tz_convert("UTC"))
    else:
        # the exchange-local date, not local midnight converted to UTC (which would be 05:00 the same day)
        ts = pd.Series(index.tz_localize(None).normalize().tz_localize("UTC"))
        if timeframe in ("weekly", "monthly"):
            ts = period_start(ts, timeframe)
    columns = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
    bars = pd.DataFrame({ours: history[theirs].to_numpy() for ours, theirs in columns.items()})
    return bars.assign(ts=ts.astype("datetime64[ns, UTC]"))[BAR_COLUMNS]
