"""JSON endpoints of the pipeline (/api/processing/...) and the ticker queue (/api/ticker-queue/...).

Thin: parse, call one service or selector, return. Triggers, cancel, retry and the schedule are staff only.
"""

from __future__ import annotations

from datetime import timedelta

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from ingest.api import JobSerializer
from ingest.errors import InvalidInput
from ingest.models import (
    PHASE_ORDER,
    PipelineRun,
    RunStatus,
    RunTrigger,
    SymbolRunStatus,
    SymbolStatus,
    Timeframe,
)
from ingest.run_progress import run_progress
from ingest.selectors import ticker_queue
from ingest.services import control, pipeline, schedule
from ingest.services import ticker_queue as tickers
from stockhub.api import StrictSerializer, validated_query

MAX_HISTORY_DAYS = 366
MAX_FAILURES_LISTED = 500


class Conflict(APIException):
    status_code = 409
    default_detail = "conflict"
    default_code = "conflict"


class TriggerRequest(StrictSerializer):
    universe = serializers.SlugField(max_length=50, help_text="e.g. sp500, dow30")
    phases = serializers.ListField(
        child=serializers.ChoiceField(choices=PHASE_ORDER),
        required=False,
        allow_empty=False,
        help_text="default: all three",
    )
    timeframe = serializers.ChoiceField(choices=Timeframe.values, default=Timeframe.DAILY)


class ProgressSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    universe = serializers.CharField()
    timeframe = serializers.CharField()
    trigger = serializers.CharField()
    status = serializers.CharField()
    phase = serializers.CharField()
    phases = serializers.ListField(child=serializers.CharField())
    phase_number = serializers.IntegerField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    percent = serializers.FloatField()
    symbols_per_minute = serializers.FloatField(allow_null=True)
    avg_ms_per_symbol = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    elapsed_seconds = serializers.FloatField()
    current_symbol = serializers.CharField()
    session_date = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    retry_of = serializers.IntegerField(allow_null=True)


class FailureSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="ticker.symbol")

    class Meta:
        model = SymbolRunStatus
        fields = ["symbol", "phase", "error_code", "error_message", "attempts"]


class RunDetailSerializer(ProgressSerializer):
    failures = FailureSerializer(many=True)
    message = serializers.CharField()


def _detail(run: PipelineRun) -> dict:
    failures = (
        run.symbols.filter(status=SymbolStatus.FAILED).select_related("ticker").order_by("ticker__symbol")
    )
    return {
        **run_progress(run=run).as_payload(),
        "failures": FailureSerializer(failures[:MAX_FAILURES_LISTED], many=True).data,
        "message": run.message,
    }


def _run_or_404(run_id: int) -> PipelineRun:
    run = PipelineRun.objects.select_related("universe").filter(id=run_id).first()
    if run is None:
        raise NotFound(f"no run {run_id}")
    return run


def _accepted(start: pipeline.RunStart) -> Response:
    return Response({"run_id": start.run_id, "symbols": start.symbols}, status=202)


@extend_schema(
    request=TriggerRequest,
    responses={
        202: inline_serializer(
            "RunStarted", {"run_id": serializers.IntegerField(), "symbols": serializers.IntegerField()}
        )
    },
    summary="Start a pipeline run now (staff); 409 when a run for that universe is already running",
)
@api_view(["POST"])
@permission_classes([IsAdminUser])
def trigger_view(request: Request) -> Response:
    body = TriggerRequest(data=request.data)
    body.is_valid(raise_exception=True)
    params = body.validated_data
    try:
        start = pipeline.start_pipeline_run(
            universe=params["universe"],
            trigger=RunTrigger.MANUAL,
            timeframe=params["timeframe"],
            phases=params.get("phases"),
            requested_by=request.user,
        )
    except pipeline.RunConflict as conflict:
        raise Conflict(conflict.message) from None
    except InvalidInput as error:
        raise ValidationError({"universe": error.message}) from None
    return _accepted(start)


@extend_schema(
    responses=RunDetailSerializer, summary="The current run (the newest running one, else the newest)"
)
@api_view(["GET"])
def current_status_view(request: Request) -> Response:
    run = (
        PipelineRun.objects.select_related("universe")
        .filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING])
        .first()
        or PipelineRun.objects.select_related("universe").first()
    )
    if run is None:
        raise NotFound("no pipeline run yet")
    return Response(_detail(run))


@extend_schema(
    operation_id="processing_run_retrieve",
    responses=RunDetailSerializer,
    summary="One run: progress figures and per-symbol failures",
)
@api_view(["GET"])
def run_status_view(request: Request, run_id: int) -> Response:
    return Response(_detail(_run_or_404(run_id)))


class HistoryQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_HISTORY_DAYS, default=7)


@extend_schema(
    parameters=[HistoryQuery],
    responses=ProgressSerializer(many=True),
    summary="Runs of the last `days` days, newest first",
)
@api_view(["GET"])
def history_view(request: Request) -> Response:
    days = validated_query(HistoryQuery, request)["days"]
    runs = PipelineRun.objects.select_related("universe").filter(
        created_at__gte=timezone.now() - timedelta(days=days)
    )
    return Response([run_progress(run=run).as_payload() for run in runs[:500]])


@extend_schema(
    responses=RunDetailSerializer, summary="Cancel a run (staff): queued symbols stop, running ones finish"
)
@api_view(["DELETE"])
@permission_classes([IsAdminUser])
def cancel_view(request: Request, run_id: int) -> Response:
    _run_or_404(run_id)
    run = pipeline.cancel_run(run_id=run_id, reason=f"cancelled by {request.user.get_username()} (API)")
    return Response(_detail(run))


@extend_schema(
    request=None,
    responses={
        202: inline_serializer(
            "RetryStarted", {"run_id": serializers.IntegerField(), "symbols": serializers.IntegerField()}
        )
    },
    summary="Re-run only the failed symbols of a run, as a new run linked to it (staff)",
)
@api_view(["POST"])
@permission_classes([IsAdminUser])
def retry_view(request: Request, run_id: int) -> Response:
    _run_or_404(run_id)
    try:
        start = pipeline.retry_run(run_id=run_id, requested_by=request.user)
    except pipeline.RunConflict as conflict:
        raise Conflict(conflict.message) from None
    except InvalidInput as error:
        raise ValidationError(error.message) from None
    return _accepted(start)


class ScheduleSerializer(StrictSerializer):
    enabled = serializers.BooleanField(required=False)
    time = serializers.RegexField(r"^\d{1,2}:\d{2}$", required=False, help_text="HH:MM, 24-hour, e.g. 16:10")
    days = serializers.ListField(
        child=serializers.CharField(max_length=9),
        required=False,
        allow_empty=False,
        help_text='e.g. ["mon","tue","wed","thu","fri"]',
    )
    time_zone = serializers.CharField(
        max_length=64, required=False, help_text="IANA name, e.g. America/New_York"
    )
    universe = serializers.SlugField(max_length=50, required=False)
    timeframe = serializers.ChoiceField(choices=Timeframe.values, required=False)
    phases = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="e.g. import,indicators; blank for all"
    )
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True)


@extend_schema(methods=["GET"], responses=ScheduleSerializer, summary="The daily pipeline's schedule (staff)")
@extend_schema(
    methods=["POST"],
    request=ScheduleSerializer,
    responses=ScheduleSerializer,
    summary="Change the daily pipeline's schedule (staff)",
)
@api_view(["GET", "POST"])
@permission_classes([IsAdminUser])
def schedule_view(request: Request) -> Response:
    if request.method == "POST":
        body = ScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            schedule.update_daily_schedule(**body.validated_data)
        except InvalidInput as error:
            raise ValidationError(error.message) from None
    return Response(ScheduleSerializer(schedule.daily_schedule()).data)


class AddTickerRequest(StrictSerializer):
    symbol = serializers.CharField(max_length=20)


class TickerEntrySerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "progress"]


@extend_schema(
    request=AddTickerRequest,
    responses={202: TickerEntrySerializer},
    summary="Add a ticker: its whole pipeline in the foreground",
)
@api_view(["POST"])
def ticker_add_view(request: Request) -> Response:
    body = AddTickerRequest(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        result = tickers.add_ticker(symbol=body.validated_data["symbol"], requested_by=request.user)
    except InvalidInput as error:
        raise ValidationError({"symbol": error.message}) from None
    return Response(TickerEntrySerializer(_entry(result.job_id)).data, status=202)


def _entry(job_id: int):
    from ingest.models import FetchJob

    return FetchJob.objects.select_related("ticker").get(id=job_id)


@extend_schema(
    responses=TickerEntrySerializer(many=True),
    summary="The ticker queue: queued, running, done and failed entries",
)
@api_view(["GET"])
def ticker_status_view(request: Request) -> Response:
    return Response(TickerEntrySerializer(ticker_queue(user=request.user), many=True).data)


@extend_schema(
    responses=TickerEntrySerializer(many=True),
    summary="Entries queued or running, with phase X of N and percent",
)
@api_view(["GET"])
def ticker_progress_view(request: Request) -> Response:
    active = [entry for entry in ticker_queue(user=request.user) if entry.status in ("queued", "running")]
    return Response(TickerEntrySerializer(active, many=True).data)


@extend_schema(
    request=None,
    responses=inline_serializer("TickerCancelled", {"cancelled": serializers.IntegerField()}),
    summary="Cancel a queued ticker",
)
@api_view(["POST"])
def ticker_cancel_view(request: Request, symbol: str) -> Response:
    cancelled = tickers.cancel_ticker(symbol=symbol, requested_by=request.user)
    if not cancelled:
        raise NotFound(f"no queued entry for {symbol.upper()} to cancel")
    return Response({"cancelled": cancelled})


@extend_schema(
    request=None,
    responses={202: TickerEntrySerializer(many=True)},
    summary="Queue a failed or cancelled ticker again",
)
@api_view(["POST"])
def ticker_retry_view(request: Request, symbol: str) -> Response:
    try:
        job_ids = tickers.retry_ticker(symbol=symbol, requested_by=request.user)
    except InvalidInput as error:
        if "never added" in error.message:
            raise NotFound(error.message) from None
        raise ValidationError(error.message) from None
    return Response(TickerEntrySerializer([_entry(job_id) for job_id in job_ids], many=True).data, status=202)


class QueueStateSerializer(serializers.Serializer):
    queue = serializers.CharField()
    paused = serializers.BooleanField()
    reason = serializers.CharField()
    changed_at = serializers.DateTimeField()


@extend_schema(
    request=None,
    responses=QueueStateSerializer,
    summary="Pause a queue (staff): nothing new starts, queued work waits",
)
@api_view(["POST"])
@permission_classes([IsAdminUser])
def queue_pause_view(request: Request, name: str) -> Response:
    # The reason is optional, and so is a body: `curl -X POST .../pause` is enough.
    body = request.data if request.body and request.content_type == "application/json" else {}
    reason = str(body.get("reason", ""))[:200] if isinstance(body, dict) else ""
    try:
        state = control.pause_queue(queue=name, user=request.user, reason=reason)
    except InvalidInput as error:
        raise NotFound(error.message) from None
    return Response(QueueStateSerializer(state).data)


@extend_schema(request=None, responses=QueueStateSerializer, summary="Resume a paused queue (staff)")
@api_view(["POST"])
@permission_classes([IsAdminUser])
def queue_resume_view(request: Request, name: str) -> Response:
    try:
        state = control.resume_queue(queue=name, user=request.user)
    except InvalidInput as error:
        raise NotFound(error.message) from None
    return Response(QueueStateSerializer(state).data)


@extend_schema(
    request=None, responses=RunDetailSerializer, summary="Pause a running run (staff); 409 unless running"
)
@api_view(["POST"])
@permission_classes([IsAdminUser])
def run_pause_view(request: Request, run_id: int) -> Response:
    _run_or_404(run_id)
    try:
        run = control.pause_run(run_id=run_id, user=request.user)
    except InvalidInput as error:
        raise Conflict(error.message) from None
    return Response(_detail(_run_or_404(run.id)))


@extend_schema(
    request=None, responses=RunDetailSerializer, summary="Resume a paused run (staff); 409 unless paused"
)
@api_view(["POST"])
@permission_classes([IsAdminUser])
def run_resume_view(request: Request, run_id: int) -> Response:
    _run_or_404(run_id)
    try:
        run = control.resume_run(run_id=run_id, user=request.user)
    except InvalidInput as error:
        raise Conflict(error.message) from None
    return Response(_detail(_run_or_404(run.id)))


urlpatterns = [
    path("queues/<str:name>/pause", queue_pause_view, name="api-queue-pause"),
    path("queues/<str:name>/resume", queue_resume_view, name="api-queue-resume"),
    path("processing/pause/<int:run_id>", run_pause_view, name="api-processing-pause"),
    path("processing/resume/<int:run_id>", run_resume_view, name="api-processing-resume"),
    path("processing/trigger-manual", trigger_view, name="api-processing-trigger"),
    path("processing/status", current_status_view, name="api-processing-status"),
    path("processing/status/<int:run_id>", run_status_view, name="api-processing-run"),
    path("processing/history", history_view, name="api-processing-history"),
    path("processing/cancel/<int:run_id>", cancel_view, name="api-processing-cancel"),
    path("processing/retry/<int:run_id>", retry_view, name="api-processing-retry"),
    path("processing/schedule", schedule_view, name="api-processing-schedule"),
    path("ticker-queue/add", ticker_add_view, name="api-ticker-queue-add"),
    path("ticker-queue/status", ticker_status_view, name="api-ticker-queue-status"),
    path("ticker-queue/progress", ticker_progress_view, name="api-ticker-queue-progress"),
    path("ticker-queue/cancel/<str:symbol>", ticker_cancel_view, name="api-ticker-queue-cancel"),
    path("ticker-queue/retry/<str:symbol>", ticker_retry_view, name="api-ticker-queue-retry"),
]
