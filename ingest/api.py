"""JSON endpoints of ingest: bars of a ticker and the queue statistics. Thin: parse, call, return."""

from __future__ import annotations

from django.http import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from ingest.models import FetchJob, Ticker, Timeframe, normalize_symbol
from ingest.monitoring import queue_report
from ingest.selectors import bars_between, ticker_with_data_version
from ingest.services.refresh import RefreshResult, request_refresh
from ingest.validation import SYMBOL_PATTERN
from stockhub.api import DateOrTimeField, cached_json, iso_datetimes, validated_query
from stockhub.queues import Reason, fetch_reason_for_priority

MAX_ROWS_PER_REQUEST = 5000


class RangeQuery(serializers.Serializer):
    """timeframe, start, end, limit: how every per-ticker series endpoint is asked for a range."""

    timeframe = serializers.ChoiceField(choices=Timeframe.values, default=Timeframe.DAILY)
    start = DateOrTimeField(required=False, help_text="ISO date or datetime (UTC)")
    end = DateOrTimeField(required=False, help_text="ISO date or datetime (UTC)")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ROWS_PER_REQUEST, default=500)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise ValidationError({"start": "start is after end"})
        return attrs


def ticker_or_404(symbol: str, *, with_data_version: bool = False) -> Ticker:
    """The ticker of a URL's symbol (any case, BRK-B or BRK.B); a 404 that names it otherwise. With
    `with_data_version`, only its id and symbol are loaded and it carries `data_version`, read in one query."""
    normal = normalize_symbol(symbol)
    if with_data_version:
        ticker = ticker_with_data_version(symbol=normal)
    else:
        ticker = Ticker.objects.filter(symbol=normal).first()
    if ticker is None:
        raise NotFound(f"no ticker {normal!r}")
    return ticker


class BarSerializer(serializers.Serializer):
    ts = serializers.DateTimeField()
    open = serializers.FloatField()
    high = serializers.FloatField()
    low = serializers.FloatField()
    close = serializers.FloatField()
    volume = serializers.IntegerField()


@extend_schema(
    parameters=[RangeQuery, OpenApiParameter("symbol", str, OpenApiParameter.PATH)],
    responses=inline_serializer(
        "BarRows",
        {
            "symbol": serializers.CharField(),
            "timeframe": serializers.CharField(),
            "count": serializers.IntegerField(),
            "bars": BarSerializer(many=True),
        },
    ),
    summary="Bars of one ticker, oldest first (the newest `limit` when no start is given)",
)
@api_view(["GET"])
def bars_view(request: Request, symbol: str) -> HttpResponseBase:
    params = validated_query(RangeQuery, request)
    ticker = ticker_or_404(symbol, with_data_version=True)

    def answer() -> dict:
        rows = bars_between(
            ticker=ticker,
            timeframe=params["timeframe"],
            start=params.get("start"),
            end=params.get("end"),
            limit=params["limit"],
        )
        # the rows have BarSerializer's fields in its order; only ts needs writing out
        bars = iso_datetimes(rows=rows, field="ts")
        return {"symbol": ticker.symbol, "timeframe": params["timeframe"], "count": len(bars), "bars": bars}

    key = ("bars", ticker.id, ticker.symbol, ticker.data_version, timezone.get_current_timezone_name())
    return cached_json(request, key=key + range_key(params), build=answer)


def range_key(params: dict) -> tuple:
    """What a validated RangeQuery contributes to a cached answer's key."""
    return params["timeframe"], params.get("start"), params.get("end"), params["limit"]


MAX_SYMBOLS_PER_REQUEST = 50


class FetchRequest(serializers.Serializer):
    symbols = serializers.ListField(
        child=serializers.CharField(max_length=20), min_length=1, max_length=MAX_SYMBOLS_PER_REQUEST
    )
    timeframe = serializers.ChoiceField(choices=Timeframe.values, default=Timeframe.DAILY)
    priority = serializers.IntegerField(
        default=3, help_text="1-3 foreground, 4-6 background (4-6 staff only)"
    )

    def validate_symbols(self, symbols: list[str]) -> list[str]:
        normalized = [normalize_symbol(s) for s in symbols]
        bad = [s for s in normalized if not SYMBOL_PATTERN.match(s)]
        if bad:
            raise ValidationError(f"not a valid symbol: {', '.join(bad)} (1-10 of A-Z 0-9 . - ^)")
        return list(dict.fromkeys(normalized))

    def validate_priority(self, priority: int) -> int:
        try:
            fetch_reason_for_priority(priority)
        except ValueError as error:
            raise ValidationError(str(error)) from error
        return priority


class JobSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="ticker.symbol")

    class Meta:
        model = FetchJob
        fields = [
            "id", "kind", "symbol", "timeframe", "reason", "priority", "queue", "status", "attempts",
            "error_code", "error_message", "rows_stored", "rows_rejected", "rejected_by_reason",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip


FetchResponseSerializer = inline_serializer(
    "FetchResponse",
    {
        "message": serializers.CharField(
            help_text="e.g. '2 jobs queued', or what happened with the broker down"
        ),
        "broker_reachable": serializers.BooleanField(),
        "ran_here": serializers.ListField(
            child=serializers.IntegerField(), help_text="job ids run in-process"
        ),
        "job_ids": serializers.ListField(child=serializers.IntegerField()),
        "jobs": JobSerializer(many=True),
    },
)


def refresh_response(result: RefreshResult) -> Response:
    """The 202 answer to a person's refresh request (POST /api/fetch, POST /api/tickers/<symbol>/refresh)."""
    jobs = FetchJob.objects.filter(id__in=result.job_ids).select_related("ticker").order_by("id")
    return Response(
        {
            "message": result.message,
            "broker_reachable": result.broker_reachable,
            "ran_here": result.ran_here,
            "job_ids": result.job_ids,
            "jobs": JobSerializer(jobs, many=True).data,
        },
        status=202,
    )


@extend_schema(
    request=FetchRequest,
    responses={202: FetchResponseSerializer},
    summary="Fetch bars for a few symbols now, through the foreground queue (background for priority 4-6)",
    description="With the broker down, the jobs are recorded; a request of at most "
    "STOCKHUB_DIRECT_FETCH_MAX_JOBS foreground jobs runs directly in the web process, the rest wait for "
    "the reconciler. `message` says which happened.",
)
@api_view(["POST"])
def fetch_view(request: Request) -> Response:
    body = FetchRequest(data=request.data)
    body.is_valid(raise_exception=True)
    params = body.validated_data
    reason = fetch_reason_for_priority(params["priority"])
    if reason != Reason.USER_REQUEST and not request.user.is_staff:
        raise PermissionDenied("only staff may queue background fetches (priority 4-6)")
    tickers = [Ticker.objects.get_or_create(symbol=symbol)[0] for symbol in params["symbols"]]
    result = request_refresh(
        pairs=[(ticker, params["timeframe"]) for ticker in tickers],
        reason=reason,
        requested_by=request.user,
        priority=params["priority"],
        run_here_if_broker_down=reason == Reason.USER_REQUEST,
    )
    return refresh_response(result)


@extend_schema(
    responses=JobSerializer,
    summary="One job: status, attempts, error, rows stored (a non-staff user sees only jobs they requested)",
)
@api_view(["GET"])
def job_view(request: Request, job_id: int) -> Response:
    jobs = FetchJob.objects.select_related("ticker")
    if not request.user.is_staff:
        jobs = jobs.filter(requested_by=request.user)
    return Response(JobSerializer(get_object_or_404(jobs, id=job_id)).data)


@extend_schema(
    responses=inline_serializer(
        "QueueReport",
        {
            "generated_at": serializers.DateTimeField(),
            "queues": serializers.ListField(
                child=serializers.DictField(), help_text="see ingest.monitoring.QueueStats"
            ),
            "staleness_hours": serializers.FloatField(),
            "alerts": serializers.ListField(
                child=serializers.DictField(), help_text="see ingest.monitoring.Alert"
            ),
        },
    ),
    summary="Per-queue depth (from the broker), throughput, waits and active alerts (staff only)",
)
@api_view(["GET"])
@permission_classes([IsAdminUser])
def queue_stats_view(request: Request) -> Response:
    return Response(queue_report().as_dict())


urlpatterns = [
    path("bars/<str:symbol>", bars_view, name="api-bars"),
    path("queues/stats", queue_stats_view, name="api-queue-stats"),
    path("fetch", fetch_view, name="api-fetch"),
    path("jobs/<int:job_id>", job_view, name="api-job"),
]
