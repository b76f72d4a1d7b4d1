"""Admin pages for portfolios and holdings."""

from django.contrib import admin

from portfolios.models import Holding, Portfolio


class HoldingInline(admin.TabularInline):
    model = Holding
    raw_id_fields = ["ticker"]
    extra = 1


@admin.register(Portfolio)
class PortfolioAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "holding_count", "created_at"]
    list_filter = ["owner"]
    search_fields = ["name", "owner__username", "holdings__ticker__symbol"]
    inlines = [HoldingInline]

    @admin.display(description="holdings")
    def holding_count(self, portfolio: Portfolio) -> int:
        return portfolio.holdings.count()


@admin.register(Holding)
class HoldingAdmin(admin.ModelAdmin):
    list_display = ["portfolio", "ticker", "quantity", "cost_basis"]
    search_fields = ["ticker__symbol", "portfolio__name", "portfolio__owner__username"]
    list_select_related = ["portfolio", "ticker"]
    raw_id_fields = ["ticker"]
