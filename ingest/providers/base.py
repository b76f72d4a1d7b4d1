"""The one small interface every market-data provider implements, and the frame it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import pandas as pd

# Columns of the frame a provider returns. `ts` is tz-aware UTC (NaT where unparseable); a daily, weekly or
# monthly bar's ts is its session date at 00:00 UTC, an hourly bar's ts its start. Prices and volume come as
# the provider gave them (possibly NaN, strings, negative): ingest.validation decides what is stored.
BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


class Provider(Protocol):
    name: str

    def fetch_bars(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Bars of `symbol` in [start, end] (UTC datetimes) as a frame with BAR_COLUMNS, in any order.

        Raises ingest.errors.ProviderError with a code from stockhub.errors.ErrorCode.
        """
        ...


def empty_bars() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="float64") for column in BAR_COLUMNS}).assign(
        ts=pd.Series(dtype="datetime64[ns, UTC]")
    )
