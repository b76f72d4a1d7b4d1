"""The JSON shapes of the portfolio and ticker endpoints: strict input (unknown fields are refused) and output."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from ingest.errors import InvalidInput
from ingest.models import AssetType, Ticker, Timeframe
from portfolios.models import Holding, Portfolio
from portfolios.services import checked_symbol
from stockhub.api import PageQuery, StrictSerializer

# Holding.quantity and cost_basis columns: 18 digits, 6 after the point.
MAX_DIGITS, DECIMAL_PLACES = 18, 6


class SymbolField(serializers.CharField):
    """A ticker symbol, normalised (upper case, BRK-B -> BRK.B) and checked; a 400 says what is allowed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=20, help_text="e.g. AAPL, BRK.B, ^GSPC", **kwargs)

    def to_internal_value(self, data) -> str:
        try:
            return checked_symbol(super().to_internal_value(data))
        except InvalidInput as error:
            raise serializers.ValidationError(error.message) from None


def path_symbol(raw: str) -> str:
    """A symbol taken from the URL, checked like a body field; a 400 naming `symbol` if it is not valid."""
    field = SymbolField()
    field.bind("symbol", serializers.Serializer())
    try:
        return field.run_validation(raw)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({"symbol": error.detail}) from None


class PortfolioSerializer(serializers.ModelSerializer):
    holding_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Portfolio
        fields = ["id", "name", "created_at", "holding_count"]


class PortfolioWrite(StrictSerializer):
    name = serializers.CharField(max_length=100, help_text="unique among your portfolios, e.g. Retirement")


class HoldingSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="ticker.symbol")
    name = serializers.CharField(source="ticker.name", help_text="the company's name, when known")

    class Meta:
        model = Holding
        fields = ["symbol", "name", "quantity", "cost_basis"]


class HoldingWrite(StrictSerializer):
    symbol = SymbolField()
    quantity = serializers.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        min_value=Decimal("0.000001"),
        help_text="shares held, more than 0, e.g. 10 or 2.5",
    )
    cost_basis = serializers.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        min_value=Decimal(0),
        allow_null=True,
        default=None,
        help_text="average cost per share in USD (optional)",
    )


class TickerSerializer(serializers.ModelSerializer):
    asset_type = serializers.ChoiceField(choices=AssetType.choices)

    class Meta:
        model = Ticker
        fields = ["symbol", "name", "exchange", "sector", "asset_type", "active"]


class TickerQuery(PageQuery):
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        help_text="symbol or name prefix, any case, e.g. aap or Apple (default: every ticker)",
    )


class RefreshRequest(StrictSerializer):
    timeframe = serializers.ChoiceField(choices=Timeframe.values, default=Timeframe.DAILY)
