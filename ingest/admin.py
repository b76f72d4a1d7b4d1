"""Admin pages for market data and jobs."""

from django.contrib import admin

from ingest.models import Bar, FetchJob, Ticker, Universe


@admin.register(Ticker)
class TickerAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "exchange", "sector", "asset_type", "active"]
    list_filter = ["asset_type", "active", "exchange", "universes"]
    search_fields = ["symbol", "name"]


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
