"""Admin pages for market data and jobs."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from ingest.errors import InvalidInput
from ingest.models import (
    AlertState,
    Bar,
    FetchJob,
    PipelineRun,
    QueueState,
    RunStatus,
    SymbolRunStatus,
    SymbolStatus,
    Ticker,
    Timeframe,
    Universe,
)
from ingest.run_progress import run_progress
from ingest.services.control import pause_queue, pause_run, resume_queue, resume_run
from ingest.services.jobs import cancel_jobs, retry_jobs
from ingest.services.pipeline import cancel_run, retry_run
from ingest.services.refresh import request_refresh
from ingest.services.storage import bump_data_versions
from stockhub.queues import Queue, Reason

# An admin's "fetch now" is a manual foreground request: ahead of a user's own requests (3), behind logins (1).
ADMIN_FETCH_PRIORITY = 2


@admin.register(Ticker)
class TickerAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "exchange", "sector", "asset_type", "active"]
    list_filter = ["asset_type", "active", "exchange", "universes"]
    search_fields = ["symbol", "name"]
    actions = ["fetch_daily_now"]
    # Computed by the "refresh priorities" beat entry; shown, never edited (the next refresh would undo it).
    readonly_fields = [
        "urgency_activity",
        "urgency_value",
        "urgency_age",
        "urgency_volatility",
        "urgency_computed_at",
    ]

    @admin.action(description="Fetch daily bars now (foreground queue)")
    def fetch_daily_now(self, request, queryset) -> None:
        result = request_refresh(
            pairs=[(ticker, Timeframe.DAILY) for ticker in queryset],
            reason=Reason.USER_REQUEST,
            requested_by=request.user,
            priority=ADMIN_FETCH_PRIORITY,
            run_here_if_broker_down=True,
        )
        level = messages.SUCCESS if result.broker_reachable else messages.WARNING
        self.message_user(request, f"{result.message} (jobs {', '.join(map(str, result.job_ids))})", level)


@admin.register(Universe)
class UniverseAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "kind", "owner", "member_count", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["members"]

    @admin.display(description="members")
    def member_count(self, universe: Universe) -> int:
        return universe.members.count()


@admin.register(Bar)
class BarAdmin(admin.ModelAdmin):
    list_display = ["ticker", "timeframe", "ts", "open", "high", "low", "close", "volume", "source"]
    list_filter = ["timeframe", "source"]
    search_fields = ["ticker__symbol"]
    list_select_related = ["ticker"]
    raw_id_fields = ["ticker"]
    date_hierarchy = "ts"
    show_full_result_count = False  # counting millions of bars on every page view is slow

    # A bar changed here retires the API's cached answers of its ticker, as a stored fetch does.
    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            bump_data_versions(ticker_ids=[obj.ticker_id, *([form.initial["ticker"]] if change else [])])

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            bump_data_versions(ticker_ids=[obj.ticker_id])

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            ticker_ids = list(queryset.values_list("ticker_id", flat=True).distinct())
            super().delete_queryset(request, queryset)
            bump_data_versions(ticker_ids=ticker_ids)


@admin.register(FetchJob)
class FetchJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "ticker",
        "timeframe",
        "reason",
        "priority",
        "queue",
        "status",
        "attempts",
        "error_code",
        "rows_stored",
        "rows_rejected",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "queue", "kind", "reason", "error_code", "timeframe"]
    search_fields = ["ticker__symbol", "celery_task_id", "requested_by__username"]
    list_select_related = ["ticker", "requested_by"]
    raw_id_fields = ["ticker", "requested_by"]
    readonly_fields = ["created_at", "started_at", "finished_at", "celery_task_id"]
    actions = ["cancel_selected", "retry_selected"]

    @admin.action(description="Cancel selected queued jobs")
    def cancel_selected(self, request, queryset) -> None:
        cancelled = cancel_jobs(job_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request, f"{cancelled} queued jobs cancelled; running and ended jobs were left alone"
        )

    @admin.action(description="Retry selected failed or cancelled jobs")
    def retry_selected(self, request, queryset) -> None:
        job_ids = retry_jobs(job_ids=list(queryset.values_list("id", flat=True)), requested_by=request.user)
        self.message_user(
            request, f"{len(job_ids)} jobs queued again: {', '.join(map(str, job_ids)) or 'none'}"
        )


@admin.register(AlertState)
class AlertStateAdmin(admin.ModelAdmin):
    """Read-only: the queue monitor writes these (ingest.monitoring)."""

    list_display = ["name", "active", "value", "threshold", "message", "changed_at"]
    list_filter = ["active"]
    search_fields = ["name", "message"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SymbolRunStatusInline(admin.TabularInline):
    model = SymbolRunStatus
    fields = [
        "ticker",
        "phase",
        "status",
        "error_code",
        "error_message",
        "attempts",
        "rows_stored",
        "duration_ms",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    max_num = 0

    def get_queryset(self, request):
        # Failures first: on a 505-symbol run they are what a person opens the page for.
        return (
            super().get_queryset(request).select_related("ticker").order_by("-error_code", "ticker__symbol")
        )


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["id", "universe", "timeframe", "session_date", "trigger", "status", "current_phase",
                    "percent_done", "total_symbols", "failed_count", "started_at", "duration"]  # fmt: skip
    list_filter = ["status", "trigger", "timeframe", "universe"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in PipelineRun._meta.fields]
    inlines = [SymbolRunStatusInline]
    actions = ["cancel_selected", "retry_failed_symbols", "pause_selected", "resume_selected"]

    def has_add_permission(self, request) -> bool:
        return False  # runs start from the pipeline page, the API or run_pipeline, which check the rules

    @admin.display(description="%")
    def percent_done(self, run: PipelineRun) -> str:
        return (
            f"{run_progress(run=run).percent:.0f}"
            if run.status == RunStatus.RUNNING
            else f"{run.percent:.0f}"
        )

    @admin.display(description="failed")
    def failed_count(self, run: PipelineRun) -> int:
        return run.symbols.filter(status=SymbolStatus.FAILED).count()

    @admin.display(description="duration")
    def duration(self, run: PipelineRun) -> str:
        if not run.started_at:
            return "-"
        return f"{((run.finished_at or timezone.now()) - run.started_at).total_seconds():.0f} s"

    @admin.action(description="Cancel selected runs (queued symbols stop, running ones finish)")
    def cancel_selected(self, request, queryset) -> None:
        for run in queryset.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]):
            cancel_run(run_id=run.id, reason=f"cancelled by {request.user.get_username()} in admin")
            self.message_user(request, f"run {run.id} cancelled")

    @admin.action(description="Pause selected runs (running symbols finish, nothing else starts)")
    def pause_selected(self, request, queryset) -> None:
        self._change(request, queryset, pause_run)

    @admin.action(description="Resume selected paused runs")
    def resume_selected(self, request, queryset) -> None:
        self._change(request, queryset, resume_run)

    def _change(self, request, queryset, change) -> None:
        for run in queryset:
            try:
                changed = change(run_id=run.id, user=request.user)
            except InvalidInput as error:
                self.message_user(request, f"run {run.id}: {error.message}", level=messages.WARNING)
                continue
            self.message_user(request, f"run {run.id} {changed.status}")

    @admin.action(description="Retry the failed symbols of selected runs (a new linked run each)")
    def retry_failed_symbols(self, request, queryset) -> None:
        for run in queryset:
            try:
                start = retry_run(run_id=run.id, requested_by=request.user)
            except InvalidInput as error:
                self.message_user(request, f"run {run.id}: {error.message}", level=messages.WARNING)
                continue
            self.message_user(request, f"run {start.run_id} retries {start.symbols} symbols of run {run.id}")


@admin.register(SymbolRunStatus)
class SymbolRunStatusAdmin(admin.ModelAdmin):
    list_display = [
        "run",
        "ticker",
        "phase",
        "status",
        "error_code",
        "attempts",
        "rows_stored",
        "duration_ms",
    ]
    list_filter = ["status", "phase", "error_code"]
    search_fields = ["ticker__symbol"]
    list_select_related = ["ticker", "run"]
    readonly_fields = [f.name for f in SymbolRunStatus._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(QueueState)
class QueueStateAdmin(admin.ModelAdmin):
    """Pause and resume queues here (or /queues/, the API, `queue_control`); the state survives restarts."""

    list_display = ["queue", "paused", "reason", "changed_by", "changed_at"]
    readonly_fields = ["queue", "paused", "changed_by", "changed_at"]
    actions = ["pause_selected", "resume_selected"]

    def has_add_permission(self, request) -> bool:
        return False  # one row per queue, made by the first pause

    def changelist_view(self, request, extra_context=None):
        for queue in Queue:  # every queue listed, paused or not
            QueueState.objects.get_or_create(queue=queue)
        return super().changelist_view(request, extra_context)

    @admin.action(description="Pause selected queues (workers stop taking their messages)")
    def pause_selected(self, request, queryset) -> None:
        for state in queryset:
            pause_queue(queue=state.queue, user=request.user, reason=state.reason or "paused in admin")
            self.message_user(request, f"queue {state.queue} paused")

    @admin.action(description="Resume selected queues")
    def resume_selected(self, request, queryset) -> None:
        for state in queryset:
            resume_queue(queue=state.queue, user=request.user)
            self.message_user(request, f"queue {state.queue} resumed")
