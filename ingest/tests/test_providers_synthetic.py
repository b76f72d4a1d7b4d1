"""The synthetic provider (deterministic, calendar-true made-up bars) and the provider registry."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest.errors import InvalidInput, ProviderError
from ingest.providers import get_provider
from ingest.providers.aggregate import aggregate_bars
from ingest.providers.csv import CsvProvider
from ingest.providers.synthetic import SyntheticProvider
from ingest.validation import validate_bars
from stockhub.errors import ErrorCode

NOW = datetime(2024, 12, 31, 23, tzinfo=UTC)


def fetch(symbol: str, timeframe: str, start: str, end: str, *, now: datetime = NOW) -> pd.DataFrame:
    provider = SyntheticProvider(now=lambda: now)
    return provider.fetch_bars(symbol, timeframe, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"))


def test_same_symbol_gives_the_same_bars_and_other_symbols_differ():
    first = fetch("AAPL", "daily", "2024-01-01", "2024-03-31")
    again = fetch("AAPL", "daily", "2024-01-01", "2024-03-31")
    other = fetch("MSFT", "daily", "2024-01-01", "2024-03-31")
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["close"], other["close"])


# The narrow ranges end on a period's last session (Friday 2024-05-31 closes a week and a month), so their last
# weekly or monthly bar is whole.
@pytest.mark.parametrize(
    "timeframe, narrow_range",
    [
        ("daily", ("2024-03-01", "2024-03-15")),
        ("hourly", ("2024-03-01", "2024-03-15")),
        ("weekly", ("2024-03-13", "2024-05-31")),
        ("monthly", ("2024-03-13", "2024-05-31")),
    ],
)
def test_a_bar_does_not_depend_on_the_range_asked_for(timeframe, narrow_range):
    wide = fetch("NVDA", timeframe, "2023-06-01", "2024-06-30").set_index("ts")
    narrow = fetch("NVDA", timeframe, *narrow_range).set_index("ts")
    assert len(narrow) > 0
    pd.testing.assert_frame_equal(narrow, wide.loc[narrow.index])


def test_a_walk_built_from_a_later_session_is_bit_identical_to_those_rows_of_the_whole_walk():
    from ingest.providers.synthetic import _calendar, _style, _walk

    calendar = _calendar("XNYS")
    whole = _walk(_style("AMD"), calendar, sessions=6000)
    tail = _walk(_style("AMD"), calendar, sessions=6000, first=5990)
    assert tail.first == 5990 and tail.open.shape == (10, whole.open.shape[1])
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(tail, column), getattr(whole, column)[5990:])


def test_bars_are_sane_and_swing_1_to_3_percent_a_day():
    for symbol in ["AAPL", "MSFT", "XOM", "BRK.B", "^GSPC"]:
        bars = fetch(symbol, "daily", "2019-01-01", "2024-12-31")
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
        assert (bars["low"] > 0).all() and (bars["volume"] > 0).all()
        volatility = np.log(bars["close"]).diff().std()
        assert 0.008 < volatility < 0.035, (symbol, volatility)
        assert validate_bars(bars).rejected == {}


def test_daily_bars_follow_the_nyse_calendar_at_midnight_utc():
    bars = fetch("AAPL", "daily", "2024-07-01", "2024-07-09")
    assert [ts.strftime("%Y-%m-%d") for ts in bars["ts"]] == [
        "2024-07-01",
        "2024-07-02",
        "2024-07-03",
        "2024-07-05",
        "2024-07-08",
        "2024-07-09",
    ]  # 4 July is a holiday, 6-7 a weekend
    assert set(bars["ts"].dt.hour) == {0}
    assert str(bars["ts"].dt.tz) == "UTC"


def test_hourly_bars_start_at_half_past_in_new_york_and_stop_at_early_closes():
    bars = fetch("AAPL", "hourly", "2024-11-27", "2024-11-29 23:00")
    new_york = bars["ts"].dt.tz_convert("America/New_York")
    by_day = new_york.groupby(new_york.dt.date).apply(lambda day: [f"{t:%H:%M}" for t in day]).to_dict()
    full_day = ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]
    # Thanksgiving (28th) is closed; the 29th closes at 13:00
    assert {str(day): hours for day, hours in by_day.items()} == {
        "2024-11-27": full_day,
        "2024-11-29": ["09:30", "10:30", "11:30", "12:30"],
    }
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-11-27 14:30", tz="UTC")


def test_hourly_bars_move_with_daylight_saving_time_in_utc():
    bars = fetch("AAPL", "hourly", "2024-03-08", "2024-03-11 23:00")
    first_of_day = bars.groupby(bars["ts"].dt.date)["ts"].min()
    assert [f"{ts:%H:%M}" for ts in first_of_day] == ["14:30", "13:30"]


def test_a_daily_bar_is_its_hourly_bars_rolled_up():
    daily = fetch("AMZN", "daily", "2024-11-25", "2024-11-29").set_index("ts")
    hourly = fetch("AMZN", "hourly", "2024-11-25", "2024-11-29 23:00")
    rolled = (
        hourly.assign(ts=hourly["ts"].dt.floor("D"))
        .groupby("ts")
        .agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
        )
    )
    pd.testing.assert_frame_equal(rolled, daily, check_names=False)


def test_weekly_and_monthly_bars_are_rolled_up_from_daily_keyed_by_monday_and_the_first():
    daily = fetch("META", "daily", "2024-01-01", "2024-03-31")
    weekly = fetch("META", "weekly", "2024-01-03", "2024-03-31")
    monthly = fetch("META", "monthly", "2024-01-15", "2024-03-31")
    pd.testing.assert_frame_equal(weekly, aggregate_bars(daily, "weekly"))
    pd.testing.assert_frame_equal(monthly, aggregate_bars(daily, "monthly"))
    assert set(weekly["ts"].dt.day_name()) == {"Monday"}
    assert [f"{ts:%Y-%m-%d}" for ts in monthly["ts"]] == ["2024-01-01", "2024-02-01", "2024-03-01"]


def test_an_end_in_the_future_stops_at_now():
    now = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)  # half an hour after the open
    daily = fetch("AAPL", "daily", "2024-01-08", "2030-01-01", now=now)
    hourly = fetch("AAPL", "hourly", "2024-01-10", "2030-01-01", now=now)
    assert daily["ts"].iloc[-1] == pd.Timestamp("2024-01-10", tz="UTC")
    assert list(hourly["ts"]) == [pd.Timestamp("2024-01-10 14:30", tz="UTC")]
    before_open = fetch(
        "AAPL", "daily", "2024-01-08", "2030-01-01", now=datetime(2024, 1, 10, 14, tzinfo=UTC)
    )
    assert before_open["ts"].iloc[-1] == pd.Timestamp("2024-01-09", tz="UTC")


@pytest.mark.parametrize("symbol", ["ZZZZ", "ZZZ.A", "not a symbol", "TOOLONGSYMBOL"])
def test_zzz_and_invalid_symbols_are_not_found(symbol):
    with pytest.raises(ProviderError) as caught:
        fetch(symbol, "daily", "2024-01-01", "2024-01-31")
    assert caught.value.code == ErrorCode.SYMBOL_NOT_FOUND


def test_class_share_spellings_are_one_symbol():
    pd.testing.assert_frame_equal(
        fetch("BRK-B", "daily", "2024-01-01", "2024-01-31"),
        fetch("BRK.B", "daily", "2024-01-01", "2024-01-31"),
    )


def test_get_provider_defaults_to_the_configured_provider(settings, tmp_path):
    settings.STOCKHUB_PROVIDER = "synthetic"
    assert isinstance(get_provider(), SyntheticProvider)
    settings.STOCKHUB_CSV_PATH = str(tmp_path)
    provider = get_provider("csv")
    assert isinstance(provider, CsvProvider) and provider.path == tmp_path
    assert get_provider("massive").name == "massive"


def test_get_provider_rejects_an_unknown_name_listing_the_valid_ones():
    with pytest.raises(
        InvalidInput, match="'bloomberg' is unknown; choose one of: synthetic, csv, yfinance, massive"
    ):
        get_provider("bloomberg")


def test_yfinance_is_imported_only_when_its_provider_is_asked_for():
    code = (
        "import sys, django; django.setup();"
        "from ingest.providers import get_provider;"
        "[get_provider(name) for name in ('synthetic', 'csv', 'massive')];"
        "print('yfinance' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    env = {"DJANGO_SETTINGS_MODULE": "stockhub.settings", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
