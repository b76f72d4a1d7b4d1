"""JSON endpoints of portfolios: a user's portfolios and holdings, ticker search and a ticker refresh.
Thin: parse, call one service or selector, return. Mounted under /api/ by stockhub/urls.py.

Every portfolio is looked up through its owner: another user's id answers 404, exactly like a missing one.
"""

from __future__ import annotations

from django.http import HttpResponseBase
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from ingest.api import FetchResponseSerializer, refresh_response, ticker_or_404
from ingest.services.refresh import request_refresh
from portfolios import selectors, services
from portfolios.models import Portfolio
from portfolios.serializers import (
    HoldingSerializer,
    HoldingWrite,
    PortfolioSerializer,
    PortfolioWrite,
    RefreshRequest,
    TickerQuery,
    TickerSerializer,
    path_symbol,
)
from stockhub.api import (
    PageQuery,
    error_responses,
    json_response,
    page_of,
    paginated,
    validated_body,
    validated_query,
)
from stockhub.queues import Reason

SYMBOL_PARAMETER = OpenApiParameter("symbol", str, OpenApiParameter.PATH, description="e.g. AAPL or BRK.B")


def _own_portfolio(request: Request, portfolio_id: int) -> Portfolio:
    portfolio = selectors.portfolio_of(user=request.user, portfolio_id=portfolio_id)
    if portfolio is None:
        raise NotFound(f"you have no portfolio {portfolio_id}")
    return portfolio


def _portfolio_response(request: Request, portfolio_id: int, *, status: int = 200) -> Response:
    return Response(PortfolioSerializer(_own_portfolio(request, portfolio_id)).data, status=status)


@extend_schema(
    methods=["GET"],
    operation_id="portfolios_list",
    parameters=[PageQuery],
    responses={200: page_of(PortfolioSerializer, "PortfolioPage"), **error_responses(400, 404)},
    summary="Your portfolios, by name",
)
@extend_schema(
    methods=["POST"],
    operation_id="portfolios_create",
    request=PortfolioWrite,
    responses={201: PortfolioSerializer, **error_responses(400, 409)},
    summary="Create an empty portfolio (409 when you already have one of that name)",
)
@api_view(["GET", "POST"])
def portfolios_view(request: Request) -> Response:
    if request.method == "POST":
        body = validated_body(PortfolioWrite, request)
        portfolio = services.create_portfolio(owner=request.user, name=body["name"])
        return _portfolio_response(request, portfolio.id, status=201)
    params = validated_query(PageQuery, request)
    return paginated(
        selectors.portfolios_of(user=request.user),
        request=request,
        serializer_class=PortfolioSerializer,
        **params,
    )


@extend_schema(
    methods=["GET"],
    operation_id="portfolios_retrieve",
    responses={200: PortfolioSerializer, **error_responses(404)},
    summary="One of your portfolios",
)
@extend_schema(
    methods=["PATCH"],
    operation_id="portfolios_update",
    request=PortfolioWrite,
    responses={200: PortfolioSerializer, **error_responses(400, 404, 409)},
    summary="Rename one of your portfolios",
)
@extend_schema(
    methods=["DELETE"],
    operation_id="portfolios_destroy",
    responses={204: None, **error_responses(404)},
    summary="Delete one of your portfolios and its holdings (the tickers stay)",
)
@api_view(["GET", "PATCH", "DELETE"])
def portfolio_view(request: Request, portfolio_id: int) -> Response:
    portfolio = _own_portfolio(request, portfolio_id)
    if request.method == "PATCH":
        body = validated_body(PortfolioWrite, request, partial=True)
        if "name" in body:
            services.rename_portfolio(portfolio=portfolio, name=body["name"])
        return _portfolio_response(request, portfolio_id)
    if request.method == "DELETE":
        services.delete_portfolio(portfolio=portfolio)
        return Response(status=204)
    return Response(PortfolioSerializer(portfolio).data)


@extend_schema(
    methods=["GET"],
    operation_id="holdings_list",
    parameters=[PageQuery],
    responses={200: page_of(HoldingSerializer, "HoldingPage"), **error_responses(400, 404)},
    summary="The holdings of one of your portfolios, by symbol",
)
@extend_schema(
    methods=["POST"],
    operation_id="holdings_set",
    request=HoldingWrite,
    responses={201: HoldingSerializer, **error_responses(400, 404)},
    summary="Hold a quantity of a symbol (sets it when already held); a new valid symbol creates its ticker",
)
@api_view(["GET", "POST"])
def holdings_view(request: Request, portfolio_id: int) -> Response:
    portfolio = _own_portfolio(request, portfolio_id)
    if request.method == "POST":
        body = validated_body(HoldingWrite, request)
        holding = services.add_holding(portfolio=portfolio, **body)
        return Response(HoldingSerializer(holding).data, status=201)
    params = validated_query(PageQuery, request)
    return paginated(
        selectors.holdings_in(portfolio=portfolio),
        request=request,
        serializer_class=HoldingSerializer,
        **params,
    )


@extend_schema(
    operation_id="holdings_destroy",
    parameters=[SYMBOL_PARAMETER],
    responses={204: None, **error_responses(400, 404)},
    summary="Stop holding a symbol in one of your portfolios",
)
@api_view(["DELETE"])
def holding_view(request: Request, portfolio_id: int, symbol: str) -> Response:
    symbol = path_symbol(symbol)
    services.remove_holding(portfolio=_own_portfolio(request, portfolio_id), symbol=symbol)
    return Response(status=204)


@extend_schema(
    operation_id="tickers_list",
    parameters=[TickerQuery],
    responses={200: page_of(TickerSerializer, "TickerPage"), **error_responses(400, 404)},
    summary="Tickers whose symbol or name starts with `search`, by symbol",
)
@api_view(["GET"])
def tickers_view(request: Request) -> Response:
    params = validated_query(TickerQuery, request)
    return paginated(
        selectors.tickers_matching(search=params.pop("search", "")),
        request=request,
        serializer_class=TickerSerializer,
        **params,
    )


@extend_schema(
    operation_id="tickers_refresh",
    parameters=[SYMBOL_PARAMETER],
    request=RefreshRequest,
    responses={202: FetchResponseSerializer, **error_responses(400, 404)},
    summary="Fetch a ticker's bars now, through the foreground queue (priority 3, like POST /api/fetch)",
)
@api_view(["POST"])
def ticker_refresh_view(request: Request, symbol: str) -> Response:
    ticker = ticker_or_404(path_symbol(symbol))
    body = validated_body(RefreshRequest, request)
    result = request_refresh(
        pairs=[(ticker, body["timeframe"])],
        reason=Reason.USER_REQUEST,
        requested_by=request.user,
        run_here_if_broker_down=True,
    )
    return refresh_response(result)


class OwnTickerSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    portfolios = serializers.ListField(child=serializers.CharField())
    last_close = serializers.FloatField(allow_null=True)
    last_bar_at = serializers.DateTimeField(allow_null=True)
    change_percent = serializers.FloatField(allow_null=True)
    freshness = serializers.ChoiceField(choices=["fresh", "refreshing", "stale", "failed"])


@extend_schema(
    operation_id="tickers_portfolio",
    responses=OwnTickerSerializer(many=True),
    summary="The caller's own tickers (every portfolio), each with its last price and data freshness",
)
@api_view(["GET"])
def own_tickers_view(request: Request) -> HttpResponseBase:
    # OwnTickerSerializer's fields, built directly (datetimes in the current time zone, as its DateTimeField
    # writes them): the dashboard polls this, and the serializer was a tenth of its time
    zone = timezone.get_current_timezone()
    rows: dict[str, dict] = {}
    for holding in selectors.holding_rows(user=request.user, now=timezone.now()):
        row = rows.setdefault(
            holding.symbol,
            {
                "symbol": holding.symbol,
                "portfolios": [],
                "last_close": holding.last_close,
                "last_bar_at": holding.last_bar_at.astimezone(zone) if holding.last_bar_at else None,
                "change_percent": holding.change_percent,
                "freshness": holding.freshness,
            },
        )
        row["portfolios"].append(holding.portfolio_name)
    return json_response(request, sorted(rows.values(), key=lambda r: r["symbol"]))


urlpatterns = [
    path("tickers/portfolio", own_tickers_view, name="api-tickers-portfolio"),
    path("portfolios", portfolios_view, name="api-portfolios"),
    path("portfolios/<int:portfolio_id>", portfolio_view, name="api-portfolio"),
    path("portfolios/<int:portfolio_id>/holdings", holdings_view, name="api-holdings"),
    path("portfolios/<int:portfolio_id>/holdings/<str:symbol>", holding_view, name="api-holding"),
    path("tickers", tickers_view, name="api-tickers"),
    path("tickers/<str:symbol>/refresh", ticker_refresh_view, name="api-ticker-refresh"),
]
