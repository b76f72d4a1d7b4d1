"""`manage.py compute_indicators`: symbols or a universe, a progress line, incremental by default."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from analysis.models import IndicatorRow, PatternEvent
from analysis.tests.factories import random_walk, store
from ingest.models import Universe

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("compute_indicators", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_given_symbols_get_indicators_and_patterns_with_a_progress_line():
    for seed, symbol in enumerate(["AAPL", "MSFT", "KO"]):
        store(symbol, random_walk(260, seed=seed))
    out, err = run("AAPL", "msft")
    assert "2/2  100.0%" in err and "symbols/s" in err
    assert "indicator rows         520 new" in out
    assert IndicatorRow.objects.filter(ticker__symbol="KO").count() == 0
    assert PatternEvent.objects.filter(ticker__symbol="AAPL").exists()


def test_a_universe_indicators_only_then_again_changes_nothing():
    sp = Universe.objects.create(slug="sp", name="S&P")
    sp.members.add(store("IBM", random_walk(260, seed=1)), store("HPQ", random_walk(260, seed=2)))
    out, _ = run("--universe", "sp", "--no-patterns")
    assert "indicator rows         520 new" in out and "pattern events" not in out
    assert not PatternEvent.objects.exists()
    summary = json.loads(run("--universe", "sp", "--no-patterns", "--json")[0])
    assert summary["rows"] == {"new": 0, "updated": 0, "unchanged": summary["rows"]["unchanged"]}
    assert summary["tickers"] == 2 and summary["tickers_full"] == 0


def test_full_recomputes_every_row_and_finds_them_unchanged():
    store("AMD", random_walk(260, seed=3))
    run()
    summary = json.loads(run("--full", "--json")[0])
    assert summary["tickers_full"] == 1
    assert summary["rows"] == {"new": 0, "updated": 0, "unchanged": 260}
    assert summary["events"]["new"] == 0 and summary["events_removed"] == 0


def test_unknown_symbols_and_universes_are_named():
    store("AAPL", random_walk(30))
    with pytest.raises(CommandError, match="unknown symbol.*NOPE"):
        run("AAPL", "nope")
    with pytest.raises(CommandError, match="unknown universe 'dow'"):
        run("--universe", "dow")
