"""The exchange calendar (exchange_calendars, NYSE by default): sessions, holidays, early closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import exchange_calendars
import pandas as pd
from django.conf import settings
from django.db import models


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


class MarketState(models.TextChoices):
    OPEN = "open", "open"
    EARLY_CLOSE = "early_close", "open, early close today"
    CLOSED = "closed", "closed"
    HOLIDAY = "holiday", "closed for a holiday"


@dataclass(frozen=True)
class MarketStatus:
    state: MarketState
    calendar: str
    today: Session | None  # the session of today (exchange time), None on a weekend or holiday
    next_open: pd.Timestamp  # UTC: the next session's open after `now`
    next_close: pd.Timestamp  # UTC: when the session open now closes, else the next session's close


def market_status(*, now: datetime) -> MarketStatus:
    """Open, open with an early close, closed, or closed for a holiday (a weekday without a session)."""
    calendar = market_calendar()
    local_day = pd.Timestamp(now).tz_convert(settings.STOCKHUB_MARKET_TIME_ZONE).date()
    today = session_on(day=local_day)
    minute = _minute(now)
    if today is not None and today.open <= minute < today.close:
        state = MarketState.EARLY_CLOSE if today.early_close else MarketState.OPEN
    elif today is None and local_day.weekday() < 5:
        state = MarketState.HOLIDAY
    else:
        state = MarketState.CLOSED
    return MarketStatus(
        state=state,
        calendar=settings.STOCKHUB_MARKET_CALENDAR,
        today=today,
        next_open=calendar.next_open(minute),
        next_close=calendar.next_close(minute),
    )
