"""Stored analysis: one row of indicator values per bar, pattern events, and how far each series is analysed.

Why one wide row per bar rather than one row per value: docs/indicators.md ("Storage").
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from analysis.indicators import INDICATORS
from ingest.models import Ticker, Timeframe


class IndicatorRow(models.Model):
    """Every indicator output of one bar, keyed like the bar: (ticker, timeframe, ts).

    One nullable float column per output of analysis.indicators.INDICATORS, added below from the registry,
    so registering an indicator and running makemigrations is all a new column needs. NULL means "not
    enough history yet" (or a formula that would divide by zero), never 0.
    """

    # The key is the primary key: no id column and no second index to maintain on every bulk write.
    pk = models.CompositePrimaryKey("ticker_id", "timeframe", "ts")
    ticker = models.ForeignKey(
        Ticker, on_delete=models.CASCADE, related_name="indicator_rows", db_index=False
    )
    timeframe = models.CharField(max_length=8, choices=Timeframe.choices)
    ts = models.DateTimeField(help_text="UTC, the ts of the bar")

    class Meta:
        ordering = ["ticker_id", "timeframe", "ts"]

    def __str__(self) -> str:
        return f"{self.ticker_id} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"


for _indicator in INDICATORS.values():
    for _column in _indicator.outputs:
        IndicatorRow.add_to_class(
            _column, models.FloatField(null=True, blank=True, help_text=f"output of {_indicator.name}")
        )


class PatternKind(models.TextChoices):
    DOJI = "doji", "doji"
    HAMMER = "hammer", "hammer"
    SHOOTING_STAR = "shooting_star", "shooting star"
    BULLISH_ENGULFING = "bullish_engulfing", "bullish engulfing"
    BEARISH_ENGULFING = "bearish_engulfing", "bearish engulfing"
    MORNING_STAR = "morning_star", "morning star"
    EVENING_STAR = "evening_star", "evening star"
    GOLDEN_CROSS = "golden_cross", "golden cross (SMA 50 over SMA 200)"
    DEATH_CROSS = "death_cross", "death cross (SMA 50 under SMA 200)"
    MACD_BULLISH_CROSS = "macd_bullish_cross", "MACD crosses above its signal"
    MACD_BEARISH_CROSS = "macd_bearish_cross", "MACD crosses below its signal"
    RSI_OVERBOUGHT_EXIT = "rsi_overbought_exit", "RSI leaves overbought (70)"
    RSI_OVERSOLD_EXIT = "rsi_oversold_exit", "RSI leaves oversold (30)"
    BOLLINGER_BREAKOUT_UP = "bollinger_breakout_up", "close above the upper Bollinger band"
    BOLLINGER_BREAKOUT_DOWN = "bollinger_breakout_down", "close below the lower Bollinger band"
    HIGH_52W_BREAKOUT = "high_52w_breakout", "close above the 52-week high"
    LOW_52W_BREAKOUT = "low_52w_breakout", "close below the 52-week low"
    VOLUME_SPIKE = "volume_spike", "volume over 3x its 20-bar average"
    GAP_UP = "gap_up", "gap up"
    GAP_DOWN = "gap_down", "gap down"


class Direction(models.TextChoices):
    BULLISH = "bullish", "bullish"
    BEARISH = "bearish", "bearish"
    NEUTRAL = "neutral", "neutral (a doji: indecision)"


class PatternEvent(models.Model):
    """One pattern detected on one bar. Detecting again finds the same (ticker, timeframe, ts, kind) and
    stores nothing new; definitions are in docs/patterns.md."""

    ticker = models.ForeignKey(
        Ticker, on_delete=models.CASCADE, related_name="pattern_events", db_index=False
    )
    timeframe = models.CharField(max_length=8, choices=Timeframe.choices)
    ts = models.DateTimeField(help_text="UTC, the ts of the bar the pattern completes on")
    kind = models.CharField(max_length=24, choices=PatternKind.choices)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    strength = models.FloatField(help_text="how pronounced, in the unit docs/patterns.md gives per kind")
    details = models.JSONField(default=dict, blank=True, help_text="the values behind the detection")
    detected_at = models.DateTimeField(db_default=Now(), help_text="when it was first stored")

    class Meta:
        ordering = ["-ts", "ticker_id", "kind"]
        constraints = [
            # Also the index behind one ticker's events: it leads with ticker.
            models.UniqueConstraint(
                fields=["ticker", "timeframe", "ts", "kind"],
                name="patternevent_unique_ticker_timeframe_ts_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["ts"], name="patternevent_ts")
        ]  # screens across tickers: newest first

    def __str__(self) -> str:
        return f"{self.ticker_id} {self.timeframe} {self.ts:%Y-%m-%d %H:%M} {self.kind}"


class AnalysisState(models.Model):
    """How far one (ticker, timeframe) is analysed: the next incremental run starts from here."""

    ticker = models.ForeignKey(
        Ticker, on_delete=models.CASCADE, related_name="analysis_states", db_index=False
    )
    timeframe = models.CharField(max_length=8, choices=Timeframe.choices)
    indicators_through = models.DateTimeField(
        null=True, blank=True, help_text="ts of the newest bar with indicators"
    )
    patterns_through = models.DateTimeField(
        null=True, blank=True, help_text="ts of the newest bar scanned for patterns"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ticker_id", "timeframe"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticker", "timeframe"], name="analysisstate_unique_ticker_timeframe"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticker_id} {self.timeframe} through {self.indicators_through}"
