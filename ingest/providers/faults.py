"""Fault injection around any provider, for chaos tests and demos of failure handling (never on by default).

STOCKHUB_PROVIDER_FAULTS, e.g. "timeout=AAA,BBB;rate_limit=CCC;bad_rows=DDD;fail_rate=0.2;seed=7":
- timeout=SYMBOLS     every call for these symbols raises NETWORK_TIMEOUT (retryable), as a dead host would;
- rate_limit=SYMBOLS  every call raises API_RATE_LIMIT with Retry-After 1 s, as an exhausted quota would;
- bad_rows=SYMBOLS    every bar comes back broken (NaN close, negative or zero price, high < low, in turn);
- fail_rate=P         any other call fails with probability P, half timeouts, half 429s (retryable);
- seed=N              makes fail_rate's draws repeatable;
- latency_ms=N        every call first waits N ms, as a slow provider would (chaos tests kill workers mid-call).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from ingest.errors import InvalidInput, ProviderError
from ingest.models import normalize_symbol
from ingest.providers.base import Provider
from stockhub.errors import ErrorCode

RATE_LIMIT_RETRY_AFTER_SECONDS = 1.0


@dataclass
class Faults:
    timeout: set[str] = field(default_factory=set)
    rate_limit: set[str] = field(default_factory=set)
    bad_rows: set[str] = field(default_factory=set)
    fail_rate: float = 0.0
    seed: int | None = None
    latency_ms: int = 0


def parse_faults(text: str) -> Faults:
    """The STOCKHUB_PROVIDER_FAULTS string; InvalidInput naming a bad part."""
    faults = Faults()
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, value = part.partition("=")
        key = key.strip()
        if key in ("timeout", "rate_limit", "bad_rows"):
            getattr(faults, key).update(normalize_symbol(s) for s in value.split(",") if s.strip())
        elif key == "fail_rate":
            try:
                faults.fail_rate = float(value)
            except ValueError:
                raise InvalidInput(f"STOCKHUB_PROVIDER_FAULTS: fail_rate={value!r} is not a number") from None
            if not 0 <= faults.fail_rate <= 1:
                raise InvalidInput(f"STOCKHUB_PROVIDER_FAULTS: fail_rate={value} is not between 0 and 1")
        elif key == "seed" and value.strip().isdigit():
            faults.seed = int(value)
        elif key == "latency_ms" and value.strip().isdigit():
            faults.latency_ms = int(value)
        else:
            raise InvalidInput(
                f"STOCKHUB_PROVIDER_FAULTS: cannot read {part!r}; use timeout=, rate_limit=, bad_rows=, "
                "fail_rate=, seed= or latency_ms="
            )
    return faults


class FaultyProvider:
    """Wraps `inner` and injects the configured faults; everything else is the inner provider's."""

    def __init__(self, inner: Provider, faults: Faults) -> None:
        self.inner = inner
        self.name = inner.name
        self.faults = faults
        self._random = _draws(faults.seed)

    def fetch_bars(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        key = normalize_symbol(symbol)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if key in self.faults.timeout:
            raise ProviderError(f"{symbol}: injected timeout", code=ErrorCode.NETWORK_TIMEOUT, retryable=True)
        if key in self.faults.rate_limit:
            raise _rate_limited(symbol)
        if self.faults.fail_rate and self._random.random() < self.faults.fail_rate:
            if self._random.random() < 0.5:
                raise ProviderError(
                    f"{symbol}: injected timeout", code=ErrorCode.NETWORK_TIMEOUT, retryable=True
                )
            raise _rate_limited(symbol)
        bars = self.inner.fetch_bars(symbol, timeframe, start, end)
        return _broken(bars) if key in self.faults.bad_rows else bars


_DRAWS: dict[int | None, random.Random] = {}


def _draws(seed: int | None) -> random.Random:
    """One sequence of draws per process and seed. A provider is built per fetch, so a generator seeded
    per provider would draw the same first number on every call: with a seed, all calls or none would fail."""
    if seed not in _DRAWS:
        _DRAWS[seed] = random.Random(seed)
    return _DRAWS[seed]


def _rate_limited(symbol: str) -> ProviderError:
    return ProviderError(
        f"{symbol}: injected 429",
        code=ErrorCode.API_RATE_LIMIT,
        retryable=True,
        retry_after=RATE_LIMIT_RETRY_AFTER_SECONDS,
    )


def _broken(bars: pd.DataFrame) -> pd.DataFrame:
    """Every row broken, in four different ways the validator must catch."""
    broken = bars.copy()
    n = len(broken)
    kind = np.arange(n) % 4
    broken["close"] = broken["close"].astype("float64").where(kind != 0, np.nan)
    broken["low"] = broken["low"].astype("float64").where(kind != 1, -1.0)
    broken["open"] = broken["open"].astype("float64").where(kind != 2, 0.0)
    high = broken["high"].astype("float64")
    broken["high"] = high.where(kind != 3, broken["low"].astype("float64") - 1.0)
    return broken
