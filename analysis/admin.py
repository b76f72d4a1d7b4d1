"""Admin pages for pattern events and how far each series is analysed (indicator rows are read via the API)."""

from django.contrib import admin

from analysis.models import AnalysisState, PatternEvent


@admin.register(PatternEvent)
class PatternEventAdmin(admin.ModelAdmin):
    list_display = ["ts", "ticker", "timeframe", "kind", "direction", "strength", "detected_at"]
    list_filter = ["timeframe", "kind", "direction"]
    search_fields = ["ticker__symbol"]
    date_hierarchy = "ts"
    list_select_related = ["ticker"]
    readonly_fields = ["ticker", "timeframe", "ts", "kind", "direction", "strength", "details", "detected_at"]


@admin.register(AnalysisState)
class AnalysisStateAdmin(admin.ModelAdmin):
    list_display = ["ticker", "timeframe", "indicators_through", "patterns_through", "updated_at"]
    list_filter = ["timeframe"]
    search_fields = ["ticker__symbol"]
    list_select_related = ["ticker"]
