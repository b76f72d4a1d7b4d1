"""`manage.py load_universe`: shipped lists, CSV lists, normalised and de-duplicated symbols, clear errors."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ingest.models import Ticker, Universe, UniverseKind

pytestmark = pytest.mark.django_db(transaction=True)


def load(*args) -> str:
    out = StringIO()
    call_command("load_universe", *args, stdout=out)
    return out.getvalue()


def members(slug: str) -> list[str]:
    return sorted(Universe.objects.get(slug=slug).members.values_list("symbol", flat=True))


def test_the_shipped_dow30_loads_once_however_often_it_is_asked_for():
    assert load("dow30") == "universe dow30: 30 members (30 new tickers)\n"
    assert load("DOW30") == "universe dow30: 30 members (0 new tickers)\n"
    universe = Universe.objects.get(slug="dow30")
    assert (universe.kind, universe.members.count(), Ticker.objects.count()) == (UniverseKind.INDEX, 30, 30)


def test_a_csv_list_is_normalised_and_de_duplicated(tmp_path):
    path = tmp_path / "watch.csv"
    path.write_text("\ufeffSymbol,Name\nbrk-b,Berkshire\nBRK.B,Berkshire again\n msft ,Microsoft\n")
    assert load("my-watch", "--csv", str(path)) == "universe my-watch: 2 members (2 new tickers)\n"
    assert members("my-watch") == ["BRK.B", "MSFT"]
    assert Ticker.objects.get(symbol="BRK.B").name == "Berkshire"
    assert Universe.objects.get(slug="my-watch").kind == UniverseKind.USER


def test_loading_again_replaces_the_members(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("symbol\nAAPL\nMSFT\n")
    load("mine", "--csv", str(path))
    path.write_text("symbol\nMSFT\nNVDA\n")
    load("mine", "--csv", str(path))
    assert members("mine") == ["MSFT", "NVDA"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("ticker\nAAPL\n", "no 'symbol' column"),
        ("symbol\nAAPL\nNOT A SYMBOL\n", "list.csv:3"),
    ],
)
def test_a_bad_csv_names_its_problem_and_loads_nothing(tmp_path, content, message):
    path = tmp_path / "list.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        load("mine", "--csv", str(path))
    assert not Universe.objects.exists() and not Ticker.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["sp600"], "no shipped universe 'sp600'; shipped: dow30"),
        (["mine", "--csv", "/nonexistent/list.csv"], "no such file"),
        (["bad name!"], "use 1-50 of a-z 0-9"),
    ],
)
def test_bad_arguments_get_a_clear_error(args, message):
    with pytest.raises(CommandError, match=message):
        load(*args)


def test_the_real_sp500_list_loads_every_constituent(shared_data):
    path = shared_data / "universes" / "sp500.csv"
    assert load("sp500", "--csv", str(path)) == "universe sp500: 503 members (503 new tickers)\n"
    assert {"BRK.B", "BF.B", "AAPL"} <= set(members("sp500"))
    assert Universe.objects.get(slug="sp500").name == "S&P 500"
