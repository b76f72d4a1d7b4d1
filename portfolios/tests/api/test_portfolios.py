"""The portfolio and holding endpoints: a user lists, creates, renames and deletes their own portfolios and
sets and removes holdings; another user's portfolio is a 404 that reveals nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ingest.models import Ticker
from portfolios.models import Holding, Portfolio
from portfolios.tests.factories import make_portfolio, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_portfolio_is_created_empty_and_listed_by_name(api, alice):
    created = api.post("/api/portfolios", {"name": "Tech"}, format="json")
    api.post("/api/portfolios", {"name": "Dividends"}, format="json")
    assert created.status_code == 201
    assert created.json()["name"] == "Tech" and created.json()["holding_count"] == 0
    body = api.get("/api/portfolios").json()
    assert body["count"] == 2 and body["page"] == 1 and body["next"] is None
    assert [p["name"] for p in body["results"]] == ["Dividends", "Tech"]
    assert Portfolio.objects.get(name="Tech").owner == alice


def test_a_second_portfolio_of_the_same_name_is_a_409_and_nothing_changes(api, alice):
    make_portfolio(owner=alice, name="Tech")
    response = api.post("/api/portfolios", {"name": "Tech"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "NAME_TAKEN"
    assert "already have a portfolio named 'Tech'" in response.json()["message"]
    assert Portfolio.objects.count() == 1


def test_the_same_name_is_fine_for_two_users(api, alice):
    make_portfolio(owner=make_user("bob"), name="Tech")
    assert api.post("/api/portfolios", {"name": "Tech"}, format="json").status_code == 201


def test_a_portfolio_is_renamed_and_deleted_with_its_holdings_but_not_its_tickers(api, alice):
    portfolio = make_portfolio(owner=alice, name="Old", symbols=["AAPL", "MSFT"])
    renamed = api.patch(f"/api/portfolios/{portfolio.id}", {"name": "New"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json() == {
        "id": portfolio.id,
        "name": "New",
        "created_at": renamed.json()["created_at"],
        "holding_count": 2,
    }
    assert api.delete(f"/api/portfolios/{portfolio.id}").status_code == 204
    assert not Portfolio.objects.exists() and not Holding.objects.exists()
    assert Ticker.objects.count() == 2


def test_renaming_onto_another_portfolio_name_is_a_409(api, alice):
    make_portfolio(owner=alice, name="Tech")
    other = make_portfolio(owner=alice, name="Other")
    response = api.patch(f"/api/portfolios/{other.id}", {"name": "Tech"}, format="json")
    assert response.status_code == 409
    assert Portfolio.objects.get(id=other.id).name == "Other"


def test_another_users_portfolio_is_a_404_for_every_method_and_stays_as_it_was(other_api, alice):
    portfolio = make_portfolio(owner=alice, name="Private", symbols=["AAPL"])
    base = f"/api/portfolios/{portfolio.id}"
    answers = [
        other_api.get(base),
        other_api.patch(base, {"name": "Mine now"}, format="json"),
        other_api.delete(base),
        other_api.get(f"{base}/holdings"),
        other_api.post(f"{base}/holdings", {"symbol": "MSFT", "quantity": "1"}, format="json"),
        other_api.delete(f"{base}/holdings/AAPL"),
    ]
    assert [answer.status_code for answer in answers] == [404] * 6
    for answer in answers:
        assert answer.json()["code"] == "NOT_FOUND"
        assert "Private" not in answer.content.decode() and "AAPL" not in answer.json()["message"]
    # the same answer as an id nobody has: whether the portfolio exists is not revealed
    assert other_api.get("/api/portfolios/999999").json()["message"] == "you have no portfolio 999999"
    assert other_api.get(base).json()["message"] == f"you have no portfolio {portfolio.id}"
    assert other_api.get("/api/portfolios").json()["count"] == 0
    portfolio.refresh_from_db()
    assert portfolio.name == "Private" and [h.ticker.symbol for h in portfolio.holdings.all()] == ["AAPL"]


def test_a_holding_is_set_listed_by_symbol_and_set_again_not_added(api, alice):
    portfolio = make_portfolio(owner=alice)
    url = f"/api/portfolios/{portfolio.id}/holdings"
    first = api.post(url, {"symbol": "msft", "quantity": "2.5", "cost_basis": "310.10"}, format="json")
    api.post(url, {"symbol": "AAPL", "quantity": 10}, format="json")
    again = api.post(url, {"symbol": "MSFT", "quantity": "3"}, format="json")
    assert first.status_code == 201
    assert first.json() == {"symbol": "MSFT", "name": "", "quantity": "2.500000", "cost_basis": "310.100000"}
    assert again.json()["quantity"] == "3.000000" and again.json()["cost_basis"] is None
    body = api.get(url).json()
    assert [(h["symbol"], h["quantity"]) for h in body["results"]] == [
        ("AAPL", "10.000000"),
        ("MSFT", "3.000000"),
    ]
    assert api.get(f"/api/portfolios/{portfolio.id}").json()["holding_count"] == 2


def test_an_unknown_but_valid_symbol_creates_its_ticker(api, alice):
    portfolio = make_portfolio(owner=alice)
    response = api.post(
        f"/api/portfolios/{portfolio.id}/holdings", {"symbol": "brk-b", "quantity": 1}, format="json"
    )
    assert response.status_code == 201 and response.json()["symbol"] == "BRK.B"
    assert Ticker.objects.filter(symbol="BRK.B").exists()


def test_a_holding_is_removed_by_symbol_and_removing_it_again_is_a_404(api, alice):
    portfolio = make_portfolio(owner=alice, symbols=["AAPL", "BRK.B"])
    assert api.delete(f"/api/portfolios/{portfolio.id}/holdings/brk-b").status_code == 204
    assert [h.ticker.symbol for h in portfolio.holdings.all()] == ["AAPL"]
    again = api.delete(f"/api/portfolios/{portfolio.id}/holdings/BRK.B")
    assert again.status_code == 404 and again.json()["code"] == "NOT_HELD"
    assert again.json()["message"] == f"portfolio {portfolio.id} does not hold BRK.B"


def test_holdings_come_in_pages_with_links(api, alice):
    portfolio = make_portfolio(owner=alice, symbols=[f"T{i:02}" for i in range(5)])
    body = api.get(f"/api/portfolios/{portfolio.id}/holdings?page=2&page_size=2").json()
    assert body["count"] == 5 and [h["symbol"] for h in body["results"]] == ["T02", "T03"]
    assert body["next"] == f"http://testserver/api/portfolios/{portfolio.id}/holdings?page=3&page_size=2"
    assert body["previous"] == f"http://testserver/api/portfolios/{portfolio.id}/holdings?page=1&page_size=2"
    last = api.get(f"/api/portfolios/{portfolio.id}/holdings?page=3&page_size=2").json()
    assert [h["symbol"] for h in last["results"]] == ["T04"] and last["next"] is None


def test_quantities_keep_their_decimals(api, alice):
    portfolio = make_portfolio(owner=alice)
    api.post(
        f"/api/portfolios/{portfolio.id}/holdings", {"symbol": "KO", "quantity": "0.000001"}, format="json"
    )
    assert Holding.objects.get().quantity == Decimal("0.000001")
