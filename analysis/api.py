"""JSON endpoints of analysis: stored indicators and pattern events of a ticker, and a pattern screen across
tickers. Thin: parse, call a selector, return. Mounted under /api/ by stockhub/urls.py."""

from __future__ import annotations

from django.http import HttpResponseBase
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analysis import indicators, selectors
from analysis.models import Direction, PatternKind
from ingest.api import MAX_ROWS_PER_REQUEST, RangeQuery, range_key, ticker_or_404
from ingest.models import Timeframe
from stockhub.api import DateOrTimeField, cached_json, validated_query


class CommaListField(serializers.CharField):
    """A comma-separated list, every item one of `valid` (a 400 lists them otherwise)."""

    def __init__(self, *, valid: list[str], what: str, **kwargs) -> None:
        self.valid, self.what = valid, what
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[str]:
        items = [item.strip() for item in super().to_internal_value(data).split(",") if item.strip()]
        unknown = [item for item in items if item not in self.valid]
        if unknown:
            raise ValidationError(f"unknown {self.what} {', '.join(unknown)}; valid: {', '.join(self.valid)}")
        return items


class IndicatorsQuery(RangeQuery):
    names = CommaListField(
        valid=list(indicators.INDICATORS),
        what="indicator(s)",
        required=False,
        help_text="comma-separated indicator names, e.g. rsi_14,macd (default: all)",
    )


class PatternsQuery(serializers.Serializer):
    timeframe = serializers.ChoiceField(
        choices=Timeframe.values, required=False, help_text="default: every timeframe"
    )
    kinds = CommaListField(
        valid=PatternKind.values,
        what="pattern kind(s)",
        required=False,
        help_text="comma-separated, e.g. golden_cross,volume_spike (default: all)",
    )
    since = DateOrTimeField(
        required=False, help_text="only events on bars at or after this (ISO date or datetime)"
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ROWS_PER_REQUEST, default=500)


class ScreenQuery(PatternsQuery):
    universe = serializers.SlugField(
        required=False, help_text="a universe slug, e.g. sp500 (default: every ticker)"
    )


# One float per registered output column (only the requested ones are in a response); built from the registry
# so a new indicator is documented without touching this file.
IndicatorRowSerializer = type(
    "IndicatorRowSerializer",
    (serializers.Serializer,),
    {
        "ts": serializers.DateTimeField(),
        **{c: serializers.FloatField(allow_null=True, required=False) for c in indicators.OUTPUT_COLUMNS},
    },
)


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    symbol = serializers.CharField()
    timeframe = serializers.ChoiceField(choices=Timeframe.values)
    ts = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=PatternKind.values)
    direction = serializers.ChoiceField(choices=Direction.values)
    strength = serializers.FloatField(help_text="unit per kind: docs/patterns.md")
    details = serializers.DictField()


@extend_schema(
    operation_id="ticker_indicators",
    parameters=[IndicatorsQuery, OpenApiParameter("symbol", str, OpenApiParameter.PATH)],
    responses=inline_serializer(
        "IndicatorRows",
        {
            "symbol": serializers.CharField(),
            "timeframe": serializers.CharField(),
            "names": serializers.ListField(child=serializers.CharField()),
            "columns": serializers.ListField(child=serializers.CharField()),
            "count": serializers.IntegerField(),
            "rows": IndicatorRowSerializer(many=True),
        },
    ),
    summary="Stored indicator values of one ticker, oldest first (the newest `limit` rows when no start is given); "
    "null until an indicator has enough history",
)
@api_view(["GET"])
def indicators_view(request: Request, symbol: str) -> HttpResponseBase:
    params = validated_query(IndicatorsQuery, request)
    ticker = ticker_or_404(symbol, with_data_version=True)
    chosen = indicators.indicators_for(
        intraday=params["timeframe"] == Timeframe.HOURLY, names=params.get("names")
    )
    columns = [column for indicator in chosen for column in indicator.outputs]

    def answer() -> dict:
        rows = selectors.indicator_rows(
            ticker=ticker,
            timeframe=params["timeframe"],
            columns=columns,
            start=params.get("start"),
            end=params.get("end"),
            limit=params["limit"],
        )
        return {
            "symbol": ticker.symbol,
            "timeframe": params["timeframe"],
            "names": [indicator.name for indicator in chosen],
            "columns": columns,
            "count": len(rows),
            "rows": rows,
        }

    key = ("indicators", ticker.id, ticker.symbol, ticker.data_version, *range_key(params), tuple(columns))
    return cached_json(request, key=key, build=answer)


def _events_response(events: list[dict], **extra) -> Response:
    return Response({**extra, "count": len(events), "events": EventSerializer(events, many=True).data})


_EVENTS_RESPONSE = inline_serializer(
    "PatternEvents", {"count": serializers.IntegerField(), "events": EventSerializer(many=True)}
)


@extend_schema(
    operation_id="ticker_patterns",
    parameters=[PatternsQuery, OpenApiParameter("symbol", str, OpenApiParameter.PATH)],
    responses=_EVENTS_RESPONSE,
    summary="Pattern events of one ticker, newest first",
)
@api_view(["GET"])
def ticker_patterns_view(request: Request, symbol: str) -> Response:
    params = validated_query(PatternsQuery, request)
    ticker = ticker_or_404(symbol)
    events = selectors.pattern_events(
        ticker_ids=[ticker.id],
        timeframe=params.get("timeframe"),
        kinds=params.get("kinds"),
        since=params.get("since"),
        limit=params["limit"],
    )
    return _events_response(events, symbol=ticker.symbol)


@extend_schema(
    operation_id="patterns_screen",
    parameters=[ScreenQuery],
    responses=_EVENTS_RESPONSE,
    summary="Screen: pattern events across tickers (optionally one universe), newest first",
)
@api_view(["GET"])
def patterns_screen_view(request: Request) -> Response:
    params = validated_query(ScreenQuery, request)
    ticker_ids = None
    if params.get("universe"):
        universes = {u.slug: u for u in selectors.visible_universes(user=request.user)}
        if params["universe"] not in universes:
            raise ValidationError(
                {
                    "universe": f"unknown universe {params['universe']!r}; valid: {', '.join(universes) or 'none yet'}"
                }
            )
        ticker_ids = selectors.universe_ticker_ids(universe=universes[params["universe"]])
    events = selectors.pattern_events(
        ticker_ids=ticker_ids,
        timeframe=params.get("timeframe"),
        kinds=params.get("kinds"),
        since=params.get("since"),
        limit=params["limit"],
    )
    return _events_response(events)


urlpatterns = [
    path("indicators/<str:symbol>", indicators_view, name="api-indicators"),
    path("patterns/<str:symbol>", ticker_patterns_view, name="api-ticker-patterns"),
    path("patterns", patterns_screen_view, name="api-patterns"),
]
