"""The exchange calendar (exchange_calendars, NYSE by default): sessions, holidays, early closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import exchange_calendars
import pandas as pd
from django.conf import settings


@lru_cache(maxsize=4)
def _calendar(name: str) -> exchange_calendars.ExchangeCalendar:
    return exchange_calendars.get_calendar(name)  # ~0.4 s to build, so once per process


def market_calendar() -> exchange_calendars.ExchangeCalendar:
    return _calendar(settings.STOCKHUB_MARKET_CALENDAR)


def _minute(now: datetime) -> pd.Timestamp:
    return pd.Timestamp(now).tz_convert("UTC").floor("min")


def is_market_open(*, now: datetime) -> bool:
    return bool(market_calendar().is_open_on_minute(_minute(now)))


@dataclass(frozen=True)
class Session:
    day: date
    open: pd.Timestamp  # UTC
    close: pd.Timestamp  # UTC

    @property
    def early_close(self) -> bool:
        return self.close.tz_convert(settings.STOCKHUB_MARKET_TIME_ZONE).hour < 16


def _session(label: pd.Timestamp) -> Session:
    calendar = market_calendar()
    return Session(label.date(), calendar.session_open(label), calendar.session_close(label))


def last_completed_session(*, now: datetime) -> Session:
    """The most recent session whose close is at or before `now`."""
    calendar = market_calendar()
    close = calendar.previous_close(_minute(now) + pd.Timedelta(minutes=1))
    return _session(calendar.minute_to_session(close, direction="previous"))


def session_on(*, day: date) -> Session | None:
    """The session on `day`, or None on a weekend or holiday."""
    label = pd.Timestamp(day)
    return _session(label) if market_calendar().is_session(label) else None


def next_session_open(*, now: datetime) -> pd.Timestamp:
    return market_calendar().next_open(_minute(now))
