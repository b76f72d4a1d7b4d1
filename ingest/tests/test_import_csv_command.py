"""`manage.py import_csv`: counts for every row, idempotent re-import, clear errors."""

import gzip
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ingest.models import Bar, Ticker

pytestmark = pytest.mark.django_db(transaction=True)

GOOD_AND_BAD = """Date,Open,High,Low,Close,Volume,Ticker
2024-01-03,10,11,9,10.5,1000,AAPL
2024-01-02,10,11,9,10.5,1000,AAPL
2024-01-04,,11,9,10.5,1000,AAPL
2024-01-05,10,8,9,10.5,1000,AAPL
2024-01-02,20,21,19,20.5,500,msft
2024-01-02,20,21,19,20.7,500,MSFT
2024-01-03,20,21,19,20.5,-1,MSFT
"""


def run(*args) -> dict:
    out = StringIO()
    call_command("import_csv", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_import_reports_rows_stored_and_rejected_by_reason(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(GOOD_AND_BAD)
    summary = run(str(path))
    assert summary["rows_read"] == 7
    assert summary["stored"] == {"new": 3, "updated": 0, "unchanged": 0}
    assert summary["rejected"] == {"bad_volume": 1, "duplicate": 1, "high_below_low": 1, "missing_price": 1}
    assert summary["symbols"] == 2
    assert Bar.objects.get(ticker__symbol="MSFT", timeframe="daily").close == 20.7  # the last duplicate wins


def test_re_importing_the_same_file_stores_nothing_new(tmp_path):
    path = tmp_path / "bars.csv.gz"
    path.write_bytes(gzip.compress(GOOD_AND_BAD.encode()))
    run(str(path))
    again = run(str(path))
    assert again["stored"] == {"new": 0, "updated": 0, "unchanged": 3}
    assert Bar.objects.filter(timeframe="daily").count() == 3


def test_symbols_option_limits_the_import(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(GOOD_AND_BAD)
    summary = run(str(path), "--symbols", "msft")
    assert summary["symbols"] == 1
    assert list(Ticker.objects.values_list("symbol", flat=True)) == ["MSFT"]


def test_human_output_lists_each_rejection_reason(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(GOOD_AND_BAD)
    out = StringIO()
    call_command("import_csv", str(path), stdout=out)
    text = out.getvalue()
    assert "rows read               7" in text
    assert "high_below_low" in text and "missing_price" in text


def test_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_csv", str(tmp_path / "nope.csv"))


def test_a_file_without_a_close_column_is_a_clear_error(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("date,open,high,low,volume,symbol\n2024-01-02,1,2,0.5,10,AAPL\n")
    with pytest.raises(CommandError, match="close"):
        call_command("import_csv", str(path))
    assert not Bar.objects.exists()


@pytest.mark.slow
def test_the_sp500_five_year_file_goes_in_exactly(shared_data):
    path = shared_data / "daily" / "sp500_all_stocks_5yr.csv.gz"
    summary = run(str(path))
    assert summary["rows_read"] == 619_040
    assert summary["symbols"] == 505
    # The data README counts 11 rows with empty prices, 1 with high < low, 11 with low above min(open, close).
    assert summary["rejected"] == {"high_below_low": 1, "low_above_open_close": 11, "missing_price": 11}
    assert summary["stored"] == {"new": 619_017, "updated": 0, "unchanged": 0}
    assert Bar.objects.filter(timeframe="daily").count() == 619_017
    aapl_first = Bar.objects.filter(ticker__symbol="AAPL", timeframe="daily").order_by("ts").first()
    # 2013-02-08,67.7142,68.4014,66.8928,67.8542,158168416,AAPL
    assert (
        aapl_first.ts.date().isoformat(),
        aapl_first.open,
        aapl_first.high,
        aapl_first.low,
        aapl_first.close,
        aapl_first.volume,
    ) == ("2013-02-08", 67.7142, 68.4014, 66.8928, 67.8542, 158168416)
    again = run(str(path))
    assert again["stored"] == {"new": 0, "updated": 0, "unchanged": 619_017}
