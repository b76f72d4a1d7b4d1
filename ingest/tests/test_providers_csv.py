"""Reading bars from CSV files and folders, and the CSV provider that serves them one symbol at a time."""

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

import ingest.providers.csv as csv_provider
from ingest.errors import InvalidInput, ProviderError
from ingest.providers.csv import CsvProvider, read_bars_file
from ingest.validation import validate_bars
from stockhub.errors import ErrorCode

UTC = "UTC"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def fetch(path: Path, symbol: str, timeframe: str, start: str, end: str) -> pd.DataFrame:
    return CsvProvider(path, time_zone="America/New_York").fetch_bars(symbol, timeframe, utc(start), utc(end))


def test_a_folder_of_per_symbol_files_takes_each_symbol_from_its_file_name(tmp_path):
    write(
        tmp_path / "AAPL.csv",
        "date,open,high,low,close,volume\n2024-01-02,187.15,188.44,183.89,185.64,82488700\n",
    )
    write(
        tmp_path / "msft.csv.gz",
        "date,open,high,low,close,volume\n2024-01-02,373.86,375.9,366.77,370.87,25258600\n",
    )
    write(
        tmp_path / "BRK-B_data.csv",
        "date,open,high,low,close,volume\n2024-01-02,356.6,360.6,356.12,359.8,3700000\n",
    )
    write(tmp_path / "notes.txt", "not bars")
    bars = read_bars_file(tmp_path)
    assert list(bars.columns) == ["symbol", "ts", "open", "high", "low", "close", "volume"]
    assert dict(zip(bars["symbol"], bars["close"], strict=True)) == {
        "AAPL": 185.64,
        "BRK.B": 359.8,
        "MSFT": 370.87,
    }
    assert set(bars["ts"]) == {utc("2024-01-02")}


def test_one_long_file_matches_headers_in_any_case_and_ignores_extra_columns(tmp_path):
    path = write(
        tmp_path / "bars.csv",
        "Date,Open,High,Low,Close,Volume,OpenInt,Ticker\n"
        "2024-01-03,184.22,185.88,183.43,184.25,58414500,0,aapl\n"
        "2024-01-02,187.15,188.44,183.89,185.64,82488700,0,AAPL\n"
        "2024-01-02,373.86,375.9,366.77,370.87,25258600,0,brk-b\n",
    )
    bars = read_bars_file(path)
    assert list(bars["symbol"]) == ["AAPL", "AAPL", "BRK.B"]
    assert list(bars["ts"]) == [utc("2024-01-03"), utc("2024-01-02"), utc("2024-01-02")]  # file order kept
    assert list(bars["volume"]) == [58414500, 82488700, 25258600]
    assert "openint" not in [c.lower() for c in bars.columns]


def test_a_gzipped_file_reads_like_the_plain_one(tmp_path):
    text = "datetime,open,high,low,close,volume,symbol\n2024-01-02 09:30:00,10,11,9,10.5,1000,SPY\n"
    plain = read_bars_file(write(tmp_path / "spy.csv", text))
    zipped = read_bars_file(write(tmp_path / "spy.csv.gz", text))
    pd.testing.assert_frame_equal(plain, zipped)


def test_naive_intraday_times_are_new_york_time_converted_to_utc(tmp_path):
    path = write(
        tmp_path / "bars.csv",
        "timestamp,open,high,low,close,volume,symbol\n"
        "2024-01-02 09:30:00,1,1,1,1,1,SPY\n"  # EST: UTC-5
        "2024-07-01 09:30:00,1,1,1,1,1,SPY\n"  # EDT: UTC-4
        "2024-03-10 02:30:00,1,1,1,1,1,SPY\n",  # skipped by the spring DST change: no such time
    )
    assert list(read_bars_file(path)["ts"]) == [utc("2024-01-02 14:30"), utc("2024-07-01 13:30"), pd.NaT]


def test_times_with_an_offset_are_converted_to_utc(tmp_path):
    path = write(
        tmp_path / "bars.csv",
        "time,open,high,low,close,volume,symbol\n"
        "2024-01-02T09:30:00-05:00,1,1,1,1,1,SPY\n"
        "2024-07-01T09:30:00-04:00,1,1,1,1,1,SPY\n"
        "2024-07-01T14:30:00Z,1,1,1,1,1,SPY\n"
        "2024-07-01 10:30:00,1,1,1,1,1,SPY\n",
    )
    assert list(read_bars_file(path)["ts"]) == [
        utc("2024-01-02 14:30"),
        utc("2024-07-01 13:30"),
        utc("2024-07-01 14:30"),
        utc("2024-07-01 14:30"),
    ]


def test_an_unparseable_timestamp_becomes_nat_and_the_rest_still_read(tmp_path):
    path = write(
        tmp_path / "bars.csv",
        "date,open,high,low,close,volume,symbol\n2024-01-02,1,1,1,1,1,A\nsoon,1,1,1,1,1,A\n01/03/2024,1,1,1,1,1,A\n",
    )
    bars = read_bars_file(path)
    assert list(bars["ts"]) == [utc("2024-01-02"), pd.NaT, utc("2024-01-03")]
    assert validate_bars(bars, now=utc("2025-01-01")).rejected == {"bad_timestamp": 1}


def test_missing_and_non_numeric_prices_stay_distinguishable_for_validation(tmp_path):
    path = write(
        tmp_path / "bars.csv",
        "date,open,high,low,close,volume,symbol\n"
        "2024-01-02,10,11,9,10.5,100,A\n"
        "2024-01-03,,11,9,10.5,100,A\n"
        "2024-01-04,n/a?,11,9,10.5,100,A\n",
    )
    bars = read_bars_file(path)
    assert list(bars["open"].isna()) == [False, True, False]  # the empty cell is missing ...
    assert bars["open"].iloc[2] == "n/a?"  # ... the text is kept as text
    assert validate_bars(bars, now=utc("2025-01-01")).rejected == {"missing_price": 1, "non_numeric": 1}


def test_a_missing_column_names_the_file_the_column_and_the_columns_found(tmp_path):
    path = write(tmp_path / "bars.csv", "date,open,high,low,volume,symbol\n2024-01-02,1,2,0.5,10,AAPL\n")
    with pytest.raises(InvalidInput) as caught:
        read_bars_file(path)
    message = str(caught.value)
    assert str(path) in message
    assert "no close column" in message
    assert "found: date, open, high, low, volume, symbol" in message


def test_a_long_file_without_a_symbol_column_takes_the_symbol_from_its_name(tmp_path):
    path = write(tmp_path / "QQQ.csv.gz", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n")
    assert list(read_bars_file(path)["symbol"]) == ["QQQ"]


def test_the_provider_returns_one_symbols_rows_in_range_whatever_their_order(tmp_path):
    write(
        tmp_path / "bars.csv",
        "date,open,high,low,close,volume,name\n"
        "2024-01-05,4,4,4,4,4,AAPL\n2024-01-02,1,1,1,1,1,AAPL\n2024-01-04,3,3,3,3,3,AAPL\n"
        "2024-01-03,2,2,2,2,2,AAPL\n2024-01-03,9,9,9,9,9,MSFT\n",
    )
    bars = fetch(tmp_path, "aapl", "daily", "2024-01-03", "2024-01-04")
    assert sorted(zip(bars["ts"], bars["close"], strict=True)) == [
        (utc("2024-01-03"), 2),
        (utc("2024-01-04"), 3),
    ]
    assert list(bars.columns) == ["ts", "open", "high", "low", "close", "volume"]


def test_the_provider_answers_symbol_not_found_for_a_symbol_in_no_file(tmp_path):
    write(tmp_path / "AAPL.csv", "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
    with pytest.raises(ProviderError) as caught:
        fetch(tmp_path, "MSFT", "daily", "2024-01-01", "2024-01-31")
    assert caught.value.code == ErrorCode.SYMBOL_NOT_FOUND


def test_the_provider_rolls_daily_rows_up_into_weekly_and_monthly_bars(tmp_path):
    rows = "2024-01-31,9,9,9,9,9\n2024-02-01,10,12,9,11,100\n2024-02-02,11,13,10,12,200\n"
    rows += "2024-02-05,12,12.5,8,9,300\n2024-02-06,9,10,8.5,9.5,400\n"
    write(tmp_path / "X.csv", "date,open,high,low,close,volume\n" + rows)
    weekly = fetch(tmp_path, "X", "weekly", "2024-02-01", "2024-02-29")
    assert weekly.to_dict("records") == [
        {"ts": utc("2024-01-29"), "open": 9, "high": 13, "low": 9, "close": 12, "volume": 309},
        {"ts": utc("2024-02-05"), "open": 12, "high": 12.5, "low": 8, "close": 9.5, "volume": 700},
    ]
    monthly = fetch(tmp_path, "X", "monthly", "2024-02-01", "2024-02-29")
    assert monthly.to_dict("records") == [
        {"ts": utc("2024-02-01"), "open": 10, "high": 13, "low": 8, "close": 9.5, "volume": 1000}
    ]


def test_a_week_holding_a_bad_row_is_delivered_with_nan_prices_for_validation_to_count(tmp_path):
    write(tmp_path / "X.csv", "date,open,high,low,close,volume\n2024-02-05,1,2,1,2,5\n2024-02-06,,2,1,2,5\n")
    weekly = fetch(tmp_path, "X", "weekly", "2024-02-05", "2024-02-09")
    assert weekly["close"].isna().all()
    assert validate_bars(weekly).rejected == {"missing_price": 1}


def test_the_provider_rolls_five_minute_rows_into_hourly_bars_keyed_by_the_hour_start(tmp_path):
    rows = [("09:30", 10, 10.5, 9.9, 10.2, 100), ("09:55", 10.2, 10.9, 10.1, 10.8, 50)]
    rows += [("10:00", 10.8, 11, 10.7, 10.9, 70), ("10:55", 10.9, 10.95, 10.6, 10.7, 30)]
    body = "".join(f"2024-01-02 {t},{o},{h},{lo},{c},{v},SPY\n" for t, o, h, lo, c, v in rows)
    write(tmp_path / "spy_5min.csv", "datetime,open,high,low,close,volume,symbol\n" + body)
    hourly = fetch(tmp_path, "SPY", "hourly", "2024-01-02", "2024-01-03")
    assert hourly.to_dict("records") == [
        {"ts": utc("2024-01-02 14:00"), "open": 10, "high": 10.9, "low": 9.9, "close": 10.8, "volume": 150},
        {"ts": utc("2024-01-02 15:00"), "open": 10.8, "high": 11, "low": 10.6, "close": 10.7, "volume": 100},
    ]


def test_hourly_bars_cannot_be_made_from_daily_rows(tmp_path):
    write(tmp_path / "AAPL.csv", "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
    with pytest.raises(InvalidInput, match="only daily bars of AAPL; hourly bars cannot be made"):
        fetch(tmp_path, "AAPL", "hourly", "2024-01-01", "2024-01-31")


def test_the_provider_parses_a_folder_once_and_again_after_a_file_changes(tmp_path, monkeypatch):
    path = write(tmp_path / "AAPL.csv", "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
    reads = []
    real_read = csv_provider.read_one_file
    monkeypatch.setattr(
        csv_provider, "read_one_file", lambda *a, **kw: reads.append(a[0]) or real_read(*a, **kw)
    )
    for _ in range(3):
        fetch(tmp_path, "AAPL", "daily", "2024-01-01", "2024-01-31")
    assert len(reads) == 1
    write(path, "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n2024-01-03,2,2,2,2,2\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert len(fetch(tmp_path, "AAPL", "daily", "2024-01-01", "2024-01-31")) == 2
    assert len(reads) == 2


def test_a_fetching_workers_main_process_parses_the_files_before_its_pool_forks(
    tmp_path, settings, monkeypatch
):
    """The csv provider's files are parsed once in the worker's main process (celeryd_after_setup), so the pool
    processes inherit them and the first fetch finds them parsed; a worker of the analysis lane never fetches
    and parses nothing."""
    from types import SimpleNamespace

    import ingest.warmup as warmup

    write(tmp_path / "AAPL.csv", "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
    settings.STOCKHUB_PROVIDER, settings.STOCKHUB_CSV_PATH = "csv", str(tmp_path)
    reads = []
    real_read = csv_provider.read_one_file
    monkeypatch.setattr(
        csv_provider, "read_one_file", lambda *a, **kw: reads.append(a[0]) or real_read(*a, **kw)
    )

    def worker_of(*queues: str) -> SimpleNamespace:  # what celeryd_after_setup passes: the worker
        return SimpleNamespace(
            app=SimpleNamespace(
                amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=dict.fromkeys(queues)))
            )
        )

    warmup.warm_up_worker_main(sender="analysis@test", instance=worker_of("analysis"))
    assert reads == []

    warmup.warm_up_worker_main(sender="foreground@test", instance=worker_of("foreground"))
    assert len(reads) == 1
    CsvProvider(tmp_path).fetch_bars("AAPL", "daily", utc("2024-01-01"), utc("2024-01-31"))
    assert len(reads) == 1  # the first fetch found the files parsed


def test_a_provider_that_cannot_warm_up_does_not_stop_the_worker(tmp_path, settings, caplog):
    import ingest.warmup as warmup

    (tmp_path / "broken.csv").write_text("no,bar,columns\n1,2,3\n")
    settings.STOCKHUB_PROVIDER, settings.STOCKHUB_CSV_PATH = "csv", str(tmp_path)
    warmup._warm_up_provider()
    assert "provider warm-up failed (the first fetch will report it)" in caplog.text


@pytest.mark.shared_data
def test_the_real_sp500_five_year_file_reads_whole(shared_data):
    bars = read_bars_file(shared_data / "daily" / "sp500_all_stocks_5yr.csv.gz")
    assert len(bars) == 619_040
    assert bars["symbol"].nunique() == 505
    assert bars["ts"].notna().all() and str(bars["ts"].dt.tz) == "UTC"
    aapl = bars[bars["symbol"] == "AAPL"].sort_values("ts").iloc[0]
    # 2013-02-08,67.7142,68.4014,66.8928,67.8542,158168416,AAPL
    assert (aapl["ts"], aapl["open"], aapl["high"], aapl["low"], aapl["close"], aapl["volume"]) == (
        utc("2013-02-08"),
        67.7142,
        68.4014,
        66.8928,
        67.8542,
        158168416,
    )
    # the data README: 11 empty opens, 8 empty highs and lows, no empty close
    assert bars[["open", "high", "low", "close"]].isna().sum().to_dict() == {
        "open": 11,
        "high": 8,
        "low": 8,
        "close": 0,
    }


def test_rows_out_of_time_order_come_back_in_time_order_with_equal_times_in_file_order(tmp_path):
    path = write(
        tmp_path / "bars.csv",
        "symbol,date,open,high,low,close,volume\n"
        "ODD,2024-01-10,10,11,9,10,1\n"
        "ODD,2024-01-03,10,11,9,10,2\n"
        "EVEN,2024-01-05,10,11,9,10,3\n"
        "ODD,not a date,10,11,9,10,4\n"
        "ODD,2024-01-05,10,11,9,10,5\n"
        "ODD,2024-01-08,10,11,9,10,6\n"
        "ODD,2024-01-05,10,11,9,10,7\n"  # the same day again: after the first one, as in the file
        "ODD,2024-01-02,10,11,9,10,8\n",
    )
    daily = fetch(path, "ODD", "daily", "2024-01-03", "2024-01-08")  # both ends included; no unreadable date
    assert list(daily["volume"]) == [2, 5, 7, 6]
    assert list(daily["ts"]) == [utc(d) for d in ["2024-01-03", "2024-01-05", "2024-01-05", "2024-01-08"]]
    # A range starting mid-week takes the whole first week; the last week ends at the range's end. The
    # repeated day is rolled up as the file has it: validating raw rows is not the provider's job.
    weekly = fetch(path, "ODD", "weekly", "2024-01-04", "2024-01-09")
    assert list(weekly["ts"]) == [utc("2024-01-01"), utc("2024-01-08")]
    assert list(weekly["volume"]) == [8 + 2 + 5 + 7, 6]
    assert fetch(path, "ODD", "daily", "2024-02-01", "2024-02-28").empty
