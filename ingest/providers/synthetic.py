"""Deterministic made-up bars for any symbol: the demo and test provider, no network and no files.

Every symbol gets its own price path, seeded from a SHA-256 of the symbol, that walks session by session from
a fixed origin (the first session of 2000). A bar therefore depends only on (symbol, timestamp): asking for a
shorter, longer or later range never changes a bar already delivered. Sessions, early closes and holidays
come from the exchange calendar (STOCKHUB_MARKET_CALENDAR). Hourly bars start at the session open (09:30,
10:30 ... 15:30 New York time; the last one is a half hour) and a day's open, high, low, close and volume are
exactly those of its hourly bars, so hourly and daily data agree. Weekly and monthly bars are rolled up from
daily ones with providers.aggregate.aggregate_bars. Bars before 2000 do not exist; an `end` after now is
clipped to now, and a bar exists from its start on (today's bar shows its final made-up values).

STOCKHUB_SYNTHETIC_LATENCY_MS (default 0) makes every fetch wait that long first, like a network round trip:
demos and queue tests use it to make work take visible time.

Test hook: a symbol starting with "ZZZ" (e.g. ZZZZ) is unknown to this provider, as is anything that is not a
valid symbol; both raise SYMBOL_NOT_FOUND.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import exchange_calendars
import numpy as np
import pandas as pd
from django.conf import settings

from ingest.errors import ProviderError
from ingest.models import normalize_symbol
from ingest.providers.aggregate import aggregate_bars, as_utc, bars_in_range, period_key
from ingest.providers.base import BAR_COLUMNS
from ingest.validation import SYMBOL_PATTERN
from stockhub.errors import ErrorCode

ORIGIN = "2000-01-01"
UNKNOWN_PREFIX = "ZZZ"
MAX_HOURS = 7  # bars starting 09:30 .. 15:30 in a full 6.5-hour session
# Share of the day's volume traded in each hourly bar of a full session: the usual U shape, heavy at the open
# and into the close (the last bar is only half an hour long but holds the closing auction).
HOURLY_VOLUME_SHARE = np.array([0.22, 0.14, 0.11, 0.10, 0.11, 0.13, 0.19])
# Standard normal draws per session. The trend draws (overnight gap, open-to-close move) are drawn for every
# session from ORIGIN on, since each close depends on all earlier ones; the detail draws (volume noise, the
# hourly path shocks, the upper and lower wick of each hourly bar) only for the sessions asked for, from
# blocks of _BLOCK sessions with a generator of their own (the seed's stream jumped ahead block + 1 times).
# Either way session i always gets the same draws however many sessions are drawn around it, and an
# incremental fetch draws ~2 per session since 2000 plus a block, not 24 per session.
_TREND_DRAWS = 2
_VOLUME = 0
_PATH = slice(1, 1 + MAX_HOURS)
_WICK_UP = slice(1 + MAX_HOURS, 1 + 2 * MAX_HOURS)
_WICK_DOWN = slice(1 + 2 * MAX_HOURS, 1 + 3 * MAX_HOURS)
_DETAIL_DRAWS = 1 + 3 * MAX_HOURS
_BLOCK = 256
_MEAN_REVERSION = 0.0015  # per session: prices wander (half-life ~1.8 years) without running off to 0 or 1e6


@dataclass(frozen=True)
class _Calendar:
    days: pd.DatetimeIndex  # session dates at 00:00 UTC
    day_values: np.ndarray  # the same as datetime64[D], for numpy searches
    opens: np.ndarray  # datetime64[ns], UTC
    hours: np.ndarray  # hourly bars in each session: 7, or fewer on an early close


@lru_cache(maxsize=2)
def _calendar(name: str) -> _Calendar:
    """The sessions from ORIGIN on; building an exchange calendar takes ~0.3 s, so once per process.

    Not ingest.market's calendar: that one starts 20 years before today, and the walk needs a fixed origin.
    """
    schedule = exchange_calendars.get_calendar(name, start=ORIGIN).schedule
    length = (schedule["close"] - schedule["open"]).to_numpy()
    hours = np.ceil(length / np.timedelta64(1, "h")).astype(int).clip(1, MAX_HOURS)
    days = pd.DatetimeIndex(schedule.index).tz_localize("UTC")
    return _Calendar(
        days=days,
        day_values=days.tz_convert(None).to_numpy().astype("datetime64[D]"),
        opens=schedule["open"].dt.tz_convert(None).to_numpy(),
        hours=hours,
    )


@dataclass(frozen=True)
class _Style:
    """What makes one symbol look like itself: price level, daily volatility, drift and trading volume."""

    seed: int
    first_price: float
    volatility: float  # standard deviation of the daily log return, 1-3 %
    drift: float  # per session
    volume: float  # typical shares per day


def _style(symbol: str) -> _Style:
    # hashlib, not hash(): Python salts str hashes per process, and the bars must not change between runs
    digest = hashlib.sha256(f"stockhub-synthetic:{symbol}".encode()).digest()
    u = np.frombuffer(digest[8:24], dtype=np.uint32) / 2**32
    return _Style(
        seed=int.from_bytes(digest[:8], "little"),
        first_price=float(10 * 40 ** u[0]),  # 10 .. 400
        volatility=float(0.01 + 0.02 * u[1]),
        drift=float((-0.02 + 0.14 * u[2]) / 252),  # -2 % .. +12 % a year
        volume=float(2e5 * 150 ** u[3]),  # 200k .. 30M shares a day
    )


class SyntheticProvider:
    name = "synthetic"

    def __init__(self, *, now: Callable[[], datetime] | None = None, calendar: str | None = None) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self._calendar_name = calendar or settings.STOCKHUB_MARKET_CALENDAR

    def warm_up(self) -> None:
        """Build the session table now (~0.3 s), not in the first fetch."""
        _calendar(self._calendar_name)

    def fetch_bars(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Made-up bars of `symbol` in [start, end]; SYMBOL_NOT_FOUND for ZZZ* and invalid symbols."""
        symbol = normalize_symbol(symbol)
        if not SYMBOL_PATTERN.match(symbol) or symbol.startswith(UNKNOWN_PREFIX):
            raise ProviderError(
                f"{symbol!r} is unknown to the synthetic provider", code=ErrorCode.SYMBOL_NOT_FOUND
            )
        if settings.STOCKHUB_SYNTHETIC_LATENCY_MS:  # stands in for a real provider's round trip
            time.sleep(settings.STOCKHUB_SYNTHETIC_LATENCY_MS / 1000)
        now = as_utc(self._now())
        end = min(as_utc(end), now)
        calendar = _calendar(self._calendar_name)
        started = int(np.searchsorted(calendar.opens, now.tz_convert(None).to_datetime64(), side="right"))
        # The walk is drawn from ORIGIN on, but bars are only built from the session before the range's first
        # period: an incremental fetch costs a few sessions of work, not 25 years of them.
        if timeframe == "daily":  # the common fetch, in numpy up to one frame (pandas steps cost more here)
            first_day = as_utc(start).tz_convert(None).to_datetime64().astype("datetime64[D]")
            first = int(np.searchsorted(calendar.day_values, first_day, side="left"))
            last = int(
                np.searchsorted(calendar.day_values, end.tz_convert(None).to_datetime64(), side="right")
            )
            walk = _walk(_style(symbol), calendar, sessions=started, first=min(first, started))
            return _daily_bars(walk, calendar, upto=min(last, started))
        period = period_key(start, "daily" if timeframe == "hourly" else timeframe)
        first = max(int(np.searchsorted(calendar.days, period, side="left")) - 1, 0)
        walk = _walk(_style(symbol), calendar, sessions=started, first=min(first, started))
        if timeframe == "hourly":
            bars = _hourly_bars(walk, calendar)
            return bars_in_range(bars[bars["ts"] <= now], timeframe, start, end).reset_index(drop=True)
        return aggregate_bars(bars_in_range(_daily_bars(walk, calendar), timeframe, start, end), timeframe)


@dataclass(frozen=True)
class _Walk:
    """Hourly prices of sessions first..sessions-1: ((sessions - first) x MAX_HOURS), NaN past an early close."""

    first: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def _walk(style: _Style, calendar: _Calendar, *, sessions: int, first: int = 0) -> _Walk:
    trend = np.random.Generator(np.random.PCG64(style.seed)).standard_normal((sessions, _TREND_DRAWS))
    sigma = style.volatility
    gap, move = 0.25 * sigma * trend[:, 0], 0.95 * sigma * trend[:, 1]
    # log close = trend + e, with e_i = a * e_(i-1) + gap_i + move_i (mean reversion towards the trend),
    # summed without a Python loop as a^i * cumsum(r_j / a^j)
    a = 1.0 - _MEAN_REVERSION
    powers = a ** np.arange(sessions, dtype=float)
    e = powers * np.cumsum((gap + move) / powers)
    drift = np.log(style.first_price) + style.drift * np.arange(sessions)
    log_close = (drift + e)[first:]
    log_open = log_close - move[first:]
    # Each session's bars depend on its own draws and the closes above, so the slice is bit-identical to the
    # same rows of a walk built whole.
    draws, gap, move = _detail_draws(style.seed, first, sessions), gap[first:], move[first:]
    hours = calendar.hours[first:sessions]
    path = _bridge(log_open, log_close, draws[:, _PATH], hours, sigma)
    bar_open, bar_close = np.exp(path[:, :-1]), np.exp(path[:, 1:])
    wick = 0.3 * sigma / np.sqrt(MAX_HOURS)
    high = np.maximum(bar_open, bar_close) * np.exp(wick * np.abs(draws[:, _WICK_UP]))
    low = np.minimum(bar_open, bar_close) * np.exp(-wick * np.abs(draws[:, _WICK_DOWN]))
    daily_volume = np.round(style.volume * np.exp(0.3 * draws[:, _VOLUME] + 8 * np.abs(gap + move)))
    return _Walk(first, bar_open, high, low, bar_close, _split_volume(daily_volume, hours))


def _detail_draws(seed: int, first: int, sessions: int) -> np.ndarray:
    """The detail draws of sessions first..sessions-1 ((sessions - first) x _DETAIL_DRAWS), whole blocks drawn."""
    if sessions <= first:
        return np.zeros((0, _DETAIL_DRAWS))
    blocks = range(first // _BLOCK, (sessions - 1) // _BLOCK + 1)
    drawn = np.concatenate(
        [
            np.random.Generator(np.random.PCG64(seed).jumped(block + 1)).standard_normal(
                (_BLOCK, _DETAIL_DRAWS)
            )
            for block in blocks
        ]
    )
    offset = blocks[0] * _BLOCK
    return drawn[first - offset : sessions - offset]


def _bridge(log_open: np.ndarray, log_close: np.ndarray, shocks: np.ndarray, hours: np.ndarray, sigma: float):
    """Log prices at each hour boundary (sessions x MAX_HOURS+1): a Brownian bridge from open to close.

    Columns past a session's last bar are NaN.
    """
    step = np.arange(1, MAX_HOURS + 1)
    inside = step[None, :] <= hours[:, None]
    walk = np.cumsum(np.where(inside, shocks, 0.0), axis=1)
    at_close = walk[np.arange(len(hours)), hours - 1]
    fraction = np.minimum(step[None, :] / hours[:, None], 1.0)
    pinned = walk - fraction * at_close[:, None]  # 0 at the open and at the close
    scale = 0.5 * sigma / np.sqrt(MAX_HOURS)
    path = log_open[:, None] + fraction * (log_close - log_open)[:, None] + scale * pinned
    path = np.where(inside, path, np.nan)
    return np.hstack([log_open[:, None], path])


def _split_volume(daily: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Whole shares per hourly bar that add up exactly to the day's volume (the rest goes to the last bar)."""
    inside = np.arange(MAX_HOURS)[None, :] < hours[:, None]
    share = np.where(inside, HOURLY_VOLUME_SHARE[None, :], 0.0)
    share /= share.sum(axis=1, keepdims=True)
    volume = np.floor(daily[:, None] * share)
    last = hours - 1
    rows = np.arange(len(hours))
    volume[rows, last] += daily - volume.sum(axis=1)
    return np.where(inside, volume, np.nan)


def _hourly_bars(walk: _Walk, calendar: _Calendar) -> pd.DataFrame:
    sessions = slice(walk.first, walk.first + len(walk.open))
    starts = calendar.opens[sessions, None] + np.arange(MAX_HOURS)[None, :] * np.timedelta64(1, "h")
    inside = ~np.isnan(walk.close)
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(starts[inside]).tz_localize("UTC"),
            "open": walk.open[inside],
            "high": walk.high[inside],
            "low": walk.low[inside],
            "close": walk.close[inside],
            "volume": walk.volume[inside].astype("int64"),
        }
    )[BAR_COLUMNS]


def _daily_bars(walk: _Walk, calendar: _Calendar, *, upto: int | None = None) -> pd.DataFrame:
    """The walk's daily bars, of its sessions before `upto` (all when None)."""
    count = len(walk.open) if upto is None else max(upto - walk.first, 0)
    sessions = slice(walk.first, walk.first + count)
    last = calendar.hours[sessions] - 1
    rows = np.arange(count)
    return pd.DataFrame(
        {
            "ts": calendar.days[sessions],
            "open": walk.open[:count, 0],
            "high": np.nanmax(walk.high[:count], axis=1),
            "low": np.nanmin(walk.low[:count], axis=1),
            "close": walk.close[rows, last],
            "volume": np.nansum(walk.volume[:count], axis=1).astype("int64"),
        }
    )[BAR_COLUMNS]
