"""Bad input to the new endpoints, class by class: each gets a 4xx {"code", "message"} that says what to fix,
never a 500, and changes nothing (no portfolio, holding, ticker or job appears, moves or disappears)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from ingest.models import FetchJob, Ticker
from portfolios.models import Holding, Portfolio
from portfolios.tests.factories import make_portfolio

pytestmark = pytest.mark.django_db(transaction=True)

P = "/api/portfolios/{id}"  # alice's portfolio, holding AAPL
H = "/api/portfolios/{id}/holdings"


@pytest.fixture
def portfolio(alice):
    Ticker.objects.create(symbol="MSFT")
    return make_portfolio(owner=alice, name="Main", symbols=["AAPL"])


def everything() -> tuple:
    return (
        sorted(Portfolio.objects.values_list("id", "owner_id", "name")),
        sorted(Holding.objects.values_list("portfolio_id", "ticker__symbol", "quantity", "cost_basis")),
        sorted(Ticker.objects.values_list("symbol", flat=True)),
        FetchJob.objects.count(),
    )


def send(api, method: str, url: str, body=None, **kwargs):
    """`body` a dict/list is sent as JSON; a str is sent as it is (malformed JSON, other content types)."""
    if isinstance(body, str):
        kwargs.setdefault("content_type", "application/json")
        return getattr(api, method)(url, body, **kwargs)
    return getattr(api, method)(url, body, format="json") if body is not None else getattr(api, method)(url)


def assert_refused(response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    for word in words:
        assert word in body["message"], body["message"]


MALFORMED = [
    "{not json",
    '{"name": "x"',
    "\x00\x01",
    '{"name": NaN}',
    '{"quantity": Infinity}',
    "{'name': 'x'}",
]


@pytest.mark.parametrize("body", MALFORMED)
@pytest.mark.parametrize("method, url", [("post", "/api/portfolios"), ("patch", P), ("post", H),
                                         ("post", "/api/tickers/AAPL/refresh")])  # fmt: skip
def test_malformed_json_is_a_400_parse_error(api, portfolio, method, url, body):
    before = everything()
    response = send(api, method, url.format(id=portfolio.id), body)
    assert_refused(response, 400, "PARSE_ERROR", "JSON parse error")
    assert everything() == before


def test_an_empty_body_is_a_400_naming_the_missing_fields(api, portfolio):
    response = api.post(H.format(id=portfolio.id), "", content_type="application/json")
    assert_refused(response, 400, "VALIDATION_FAILED", "symbol: This field is required", "quantity:")


@pytest.mark.parametrize(
    "method, url, body, field",
    [
        ("post", "/api/portfolios", {"name": ["Tech"]}, "name"),
        ("post", "/api/portfolios", {"name": {"$ne": None}}, "name"),
        ("post", "/api/portfolios", {"name": None}, "name"),
        ("post", "/api/portfolios", {"name": True}, "name"),
        ("post", "/api/portfolios", {"name": "   "}, "name"),
        ("post", "/api/portfolios", {"name": "x" * 101}, "name"),
        ("post", "/api/portfolios", {}, "name"),
        ("post", "/api/portfolios", ["Tech"], "non_field_errors"),
        ("post", "/api/portfolios", "42", "non_field_errors"),
        ("patch", P, {"name": ""}, "name"),
        ("patch", P, "[]", "non_field_errors"),
        ("post", H, {"symbol": "MSFT", "quantity": "ten"}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": [1]}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": True}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": None}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": 0}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": "-5"}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": "NaN"}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": "Infinity"}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": "1e30"}, "quantity"),
        ("post", H, '{"symbol": "MSFT", "quantity": 1e999999}', "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": "0.0000001"}, "quantity"),
        ("post", H, {"symbol": "MSFT", "quantity": 1, "cost_basis": "abc"}, "cost_basis"),
        ("post", H, {"symbol": "MSFT", "quantity": 1, "cost_basis": -1}, "cost_basis"),
        ("post", H, {"symbol": ["MSFT"], "quantity": 1}, "symbol"),
        ("post", H, {"quantity": 1}, "symbol"),
        ("post", "/api/tickers/AAPL/refresh", {"timeframe": "yearly"}, "timeframe"),
        ("post", "/api/tickers/AAPL/refresh", {"timeframe": 5}, "timeframe"),
    ],
)
def test_wrong_types_and_values_are_a_400_naming_the_field(api, portfolio, method, url, body, field):
    before = everything()
    response = send(api, method, url.format(id=portfolio.id), body)
    assert_refused(response, 400, "VALIDATION_FAILED", f"{field}:")
    assert field in response.json()["detail"]
    assert everything() == before


@pytest.mark.parametrize(
    "method, url, body, unknown",
    [
        ("post", "/api/portfolios", {"name": "Tech", "owner": 1}, "owner"),
        ("post", "/api/portfolios", {"name": "Tech", "id": 77}, "id"),
        ("patch", P, {"nmae": "Typo"}, "nmae"),
        ("post", H, {"symbol": "MSFT", "quantity": 1, "portfolio": 9}, "portfolio"),
        ("post", H, {"symbol": "MSFT", "quantity": 1, "costbasis": 9}, "costbasis"),
        ("post", "/api/tickers/AAPL/refresh", {"priority": 1}, "priority"),
        ("get", "/api/portfolios?pagesize=5", None, "pagesize"),
        ("get", H + "?order=symbol", None, "order"),
        ("get", "/api/tickers?serach=AAPL", None, "serach"),
    ],
)
def test_unknown_fields_and_parameters_are_a_400_naming_them(api, portfolio, method, url, body, unknown):
    before = everything()
    response = send(api, method, url.format(id=portfolio.id), body)
    assert_refused(response, 400, "VALIDATION_FAILED", f"{unknown}: unknown field; expected:")
    assert everything() == before


BAD_SYMBOLS = ["", " ", "TOOLONGSYMBOL", "BAD SYMBOL", "..", "^", "-.-", "$AAPL", "ÄPPL", "AAPL\x00",
               "../../etc/passwd", "AAPL'; DROP TABLE ingest_ticker; --", "<script>", "%2e%2e%2f"]  # fmt: skip


@pytest.mark.parametrize("symbol", BAD_SYMBOLS)
def test_a_bad_symbol_in_a_body_is_a_400_and_creates_no_ticker(api, portfolio, symbol):
    before = everything()
    response = api.post(H.format(id=portfolio.id), {"symbol": symbol, "quantity": 1}, format="json")
    assert_refused(response, 400, "VALIDATION_FAILED", "symbol:")
    assert everything() == before


@pytest.mark.parametrize("symbol", ["..", "^", "TOOLONGSYMBOL", "BAD SYMBOL", "AAPL'; DROP TABLE ingest_ticker; --",
                                    "<script>", "$AAPL"])  # fmt: skip
@pytest.mark.parametrize(
    "method, url", [("delete", H + "/{symbol}"), ("post", "/api/tickers/{symbol}/refresh")]
)
def test_a_bad_symbol_in_a_path_is_a_400(api, portfolio, clean_broker, method, url, symbol):
    before = everything()
    response = getattr(api, method)(url.format(id=portfolio.id, symbol=quote(symbol, safe="")))
    assert_refused(response, 400, "VALIDATION_FAILED", "symbol: not a valid symbol")
    assert everything() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/tickers/../../etc/passwd/refresh",
        "/api/tickers/..%2F..%2Fetc%2Fpasswd/refresh",
        "/api/portfolios/{id}/holdings/../../../etc/passwd",
        "/api/portfolios/1%20OR%201=1",
        "/api/portfolios/{id};DROP",
        "/api/nothing-here",
    ],
)
def test_a_path_that_matches_no_endpoint_is_a_json_404(api, portfolio, path):
    before = everything()
    response = api.generic("DELETE" if "holdings" in path else "POST", path.format(id=portfolio.id))
    assert_refused(response, 404, "NOT_FOUND", "no API endpoint here")
    assert everything() == before


@pytest.mark.parametrize("url", ["/api/portfolios", H, "/api/tickers"])
@pytest.mark.parametrize(
    "query, words",
    [
        ("page_size=1000000", ["page_size: at most 200 items per page"]),
        ("page_size=201", ["page_size: at most 200 items per page"]),
        ("page_size=0", ["page_size:"]),
        ("page_size=ten", ["page_size:"]),
        ("page=0", ["page:"]),
        ("page=-1", ["page:"]),
        ("page=abc", ["page:"]),
    ],
)
def test_bad_page_parameters_are_a_400_that_says_the_limit(api, portfolio, url, query, words):
    response = api.get(f"{url.format(id=portfolio.id)}?{query}")
    assert_refused(response, 400, "VALIDATION_FAILED", *words)


def test_a_very_long_search_is_a_400(api):
    assert_refused(api.get("/api/tickers", {"search": "A" * 51}), 400, "VALIDATION_FAILED", "search:")


def test_a_name_that_looks_like_sql_is_just_a_name(api):
    name = "Robert'); DROP TABLE portfolios_portfolio; --"
    response = api.post("/api/portfolios", {"name": name}, format="json")
    assert response.status_code == 201 and response.json()["name"] == name
    assert list(Portfolio.objects.values_list("name", flat=True)) == [name]


@pytest.mark.parametrize(
    "content_type, body",
    [("text/plain", "name=Tech"), ("application/x-www-form-urlencoded", "name=Tech"),
     ("application/xml", "<name>Tech</name>")],
)  # fmt: skip
def test_a_body_that_is_not_json_is_a_415(api, portfolio, content_type, body):
    before = everything()
    response = api.post("/api/portfolios", body, content_type=content_type)
    assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE", content_type.split(";")[0])
    assert everything() == before


@pytest.mark.parametrize(
    "method, url", [("put", P), ("post", P), ("get", H + "/AAPL"), ("delete", "/api/tickers")]
)
def test_a_method_an_endpoint_does_not_take_is_a_405(api, portfolio, method, url):
    before = everything()
    response = getattr(api, method)(url.format(id=portfolio.id))
    assert_refused(response, 405, "METHOD_NOT_ALLOWED", method.upper())
    assert everything() == before


def test_a_huge_json_body_is_refused_without_a_write(api, portfolio):
    before = everything()
    body = json.dumps({"name": "x" * 1_000_000})
    response = api.post("/api/portfolios", body, content_type="application/json")
    assert_refused(response, 400, "VALIDATION_FAILED", "name:")
    assert everything() == before
