"""Every row a provider gives is stored or counted by reason; none disappears silently."""

import numpy as np
import pandas as pd
import pytest

from ingest.validation import validate_bars

NOW = pd.Timestamp("2024-06-01", tz="UTC")


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {"ts": "2024-01-02", "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1000}
    data = pd.DataFrame([{**base, **row} for row in rows])
    data["ts"] = pd.to_datetime(data["ts"], utc=True, errors="coerce")
    return data


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"open": np.nan}, "missing_price"),
        ({"close": None}, "missing_price"),
        ({"high": "abc"}, "non_numeric"),
        ({"low": np.inf}, "non_finite"),
        ({"open": 0.0}, "non_positive_price"),
        ({"low": -1.0}, "non_positive_price"),
        ({"volume": -5}, "bad_volume"),
        ({"volume": np.nan}, "bad_volume"),
        ({"volume": "lots"}, "non_numeric"),
        ({"high": 8.0, "low": 9.0, "open": 8.5, "close": 8.5}, "high_below_low"),
        ({"high": 10.2}, "high_below_open_close"),
        ({"low": 10.2}, "low_above_open_close"),
        ({"ts": "not a date"}, "bad_timestamp"),
        ({"ts": None}, "bad_timestamp"),
        ({"ts": "2030-01-01"}, "future_timestamp"),
    ],
)
def test_each_bad_row_is_rejected_and_counted_by_its_reason(bad, reason):
    data = frame([{"ts": "2024-01-02"}, {"ts": "2024-01-03", **bad} if "ts" not in bad else bad])
    result = validate_bars(data, now=NOW)
    assert result.rejected == {reason: 1}
    assert len(result.bars) == 1
    assert result.bars["ts"].iloc[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_zero_volume_is_a_valid_bar():
    result = validate_bars(frame([{"volume": 0}]), now=NOW)
    assert result.rejected == {}
    assert result.bars["volume"].tolist() == [0]


def test_duplicate_timestamps_keep_the_last_row_and_count_the_rest():
    data = frame([{"close": 10.1}, {"close": 10.2}, {"close": 10.3}, {"ts": "2024-01-03"}])
    result = validate_bars(data, now=NOW)
    assert result.rejected == {"duplicate": 2}
    assert result.bars["close"].tolist() == [10.3, 10.5]


def test_out_of_order_rows_are_sorted_not_rejected():
    data = frame([{"ts": "2024-01-05"}, {"ts": "2024-01-02"}, {"ts": "2024-01-04"}])
    result = validate_bars(data, now=NOW)
    assert result.rejected == {}
    assert result.bars["ts"].dt.day.tolist() == [2, 4, 5]


def test_rows_of_several_symbols_are_deduplicated_per_symbol():
    data = frame([{}, {}, {}]).assign(symbol=["AAPL", "MSFT", "AAPL"])
    result = validate_bars(data, now=NOW)
    assert result.rejected == {"duplicate": 1}
    assert result.bars["symbol"].tolist() == ["AAPL", "MSFT"]


def test_a_malformed_symbol_rejects_its_rows():
    data = frame([{}, {}]).assign(symbol=["AAPL", "DROP TABLE;"])
    result = validate_bars(data, now=NOW)
    assert result.rejected == {"bad_symbol": 1}


def test_numeric_text_is_accepted_and_stored_as_numbers():
    data = frame([{"open": "10.25", "high": "11", "low": "9.5", "close": "10", "volume": "1200.0"}])
    result = validate_bars(data, now=NOW)
    assert result.rejected == {}
    row = result.bars.iloc[0]
    assert (row.open, row.high, row.low, row.close, row.volume) == (10.25, 11.0, 9.5, 10.0, 1200)


def test_each_bad_row_counts_once_even_with_several_faults():
    data = frame([{"open": -1.0, "high": 0.5, "volume": -1}])
    result = validate_bars(data, now=NOW)
    assert result.rejected_total == 1
    assert result.bars.empty


@pytest.mark.parametrize("seed", range(5))
def test_one_symbols_rows_are_validated_as_in_a_multi_symbol_file(seed):
    """A provider fetch (no symbol column) takes a numpy path; it must keep and count exactly what the
    pandas path for a file's rows does: unordered and repeated timestamps, bad prices, text, NaN."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=12, freq="D", tz="UTC")
    rows = []
    for _ in range(40):
        close = float(rng.uniform(5, 15))
        row = {"ts": days[rng.integers(len(days))], "open": close, "high": close + 1, "low": close - 1,
               "close": close, "volume": int(rng.integers(0, 10_000))}  # fmt: skip
        fault = rng.integers(8)
        if fault == 0:
            row["high"] = close - 2  # high below low
        elif fault == 1:
            row["open"] = np.nan
        elif fault == 2:
            row["low"] = -1.0
        rows.append(row)
    data = pd.DataFrame(rows)
    single = validate_bars(data, now=NOW)
    multi = validate_bars(data.assign(symbol="AAA"), now=NOW)
    assert single.rejected == multi.rejected
    assert single.rejected.get("duplicate", 0) > 0
    pd.testing.assert_frame_equal(single.bars, multi.bars.drop(columns="symbol"))
    assert single.bars["ts"].is_monotonic_increasing and single.bars["ts"].is_unique
