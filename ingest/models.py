"""Market data: tickers, universes, OHLCV bars, and the job record of every unit of queued work."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from ingest.validation import SYMBOL_PATTERN
from stockhub.queues import Queue, Reason


def normalize_symbol(raw: str) -> str:
    """Upper-case, trimmed symbol; class shares use a dot (BRK-B and BRK.B are one ticker: BRK.B)."""
    symbol = str(raw).strip().upper()
    if "-" in symbol and not symbol.startswith("^"):
        head, _, tail = symbol.rpartition("-")
        if head and len(tail) == 1 and tail.isalpha():
            symbol = f"{head}.{tail}"
    return symbol


def validate_symbol(symbol: str) -> None:
    if not SYMBOL_PATTERN.match(symbol or ""):
        raise ValidationError(
            f"{symbol!r} is not a valid symbol: use 1-10 characters of A-Z, 0-9, '.', '-' or '^' (e.g. AAPL, BRK.B, ^GSPC)"
        )


class AssetType(models.TextChoices):
    STOCK = "stock", "stock"
    ETF = "etf", "ETF"
    INDEX = "index", "index"
    OTHER = "other", "other"


class Timeframe(models.TextChoices):
    HOURLY = "hourly", "hourly"
    DAILY = "daily", "daily"
    WEEKLY = "weekly", "weekly"
    MONTHLY = "monthly", "monthly"


class Ticker(models.Model):
    symbol = models.CharField(
        max_length=10, unique=True, validators=[validate_symbol], help_text="Upper case, e.g. AAPL or BRK.B"
    )
    name = models.CharField(max_length=200, blank=True)
    exchange = models.CharField(max_length=20, blank=True, help_text="e.g. NASDAQ, NYSE")
    sector = models.CharField(max_length=100, blank=True)
    asset_type = models.CharField(max_length=10, choices=AssetType.choices, default=AssetType.STOCK)
    active = models.BooleanField(default=True, help_text="Inactive tickers are skipped by scheduled updates")
    created_at = models.DateTimeField(auto_now_add=True)
    # The factors of the dynamic priority inside a band, each 0..1 with 1 the most urgent, recomputed by beat
    # (ingest/services/urgency.py, every 10 minutes by default). On the ticker rather than in a one-to-one
    # model: every request_job already holds its ticker, so a job's priority costs no query, and a pipeline
    # run's 500 import requests no 500 lookups. Not editable: the next refresh would overwrite a hand edit.
    urgency_activity = models.FloatField(
        null=True,
        editable=False,
        help_text="0..1: 1 = a holder logged in within a day, 0 = none for 30 days (default)",
    )
    urgency_value = models.FloatField(
        null=True, editable=False, help_text="0..1: the ticker's largest share of a portfolio's value"
    )
    urgency_age = models.FloatField(
        null=True,
        editable=False,
        help_text="0..1: age of the newest daily bar; 1 = 5 days (default) or no bar",
    )
    urgency_volatility = models.FloatField(
        null=True,
        editable=False,
        help_text="0..1: annualised volatility of 20 daily returns over a cap (default 0.8)",
    )
    urgency_computed_at = models.DateTimeField(
        null=True,
        editable=False,
        help_text="when the urgency factors were computed; empty: default priorities",
    )

    class Meta:
        ordering = ["symbol"]
        constraints = [
            # NULL passes a CHECK, so tickers never computed are fine; computed factors stay in 0..1.
            models.CheckConstraint(
                condition=Q(urgency_activity__gte=0, urgency_activity__lte=1)
                & Q(urgency_value__gte=0, urgency_value__lte=1)
                & Q(urgency_age__gte=0, urgency_age__lte=1)
                & Q(urgency_volatility__gte=0, urgency_volatility__lte=1),
                name="ticker_urgency_factors_0_1",
            )
        ]

    def __str__(self) -> str:
        return self.symbol

    def save(self, *args, **kwargs) -> None:
        self.symbol = normalize_symbol(self.symbol)
        super().save(*args, **kwargs)


class DataVersion(models.Model):
    """How many times a ticker's stored bars (any timeframe) or indicators have changed. Bumped in the same
    statement or transaction as the write (ingest.services.storage.bump_data_versions), so it keys cached
    API answers: an answer cached under an older number is never served again. A ticker with no row has
    version 0. A row of its own, not a Ticker column, so saving a Ticker loaded earlier never turns it back."""

    ticker = models.OneToOneField(Ticker, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.ticker_id} v{self.version}"


class UniverseKind(models.TextChoices):
    INDEX = "index", "index (shipped constituent list)"
    USER = "user", "user-defined list"


class Universe(models.Model):
    slug = models.SlugField(
        max_length=50, unique=True, help_text="e.g. sp500, nasdaq100, dow30, my-watchlist"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=UniverseKind.choices, default=UniverseKind.USER)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="universes"
    )
    members = models.ManyToManyField(Ticker, related_name="universes", blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Bar(models.Model):
    """One OHLCV bar. Daily and longer bars are keyed by their session date at 00:00 UTC; hourly by start time."""

    # No index of its own: the unique (ticker, timeframe, ts) index leads with ticker and serves every lookup,
    # and a second index would cost ~1.5 s per 600k bars imported.
    ticker = models.ForeignKey(Ticker, on_delete=models.CASCADE, related_name="bars", db_index=False)
    timeframe = models.CharField(max_length=8, choices=Timeframe.choices)
    ts = models.DateTimeField(help_text="UTC")
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.BigIntegerField()
    source = models.CharField(max_length=20, help_text="provider that supplied the bar, or 'derived'")

    class Meta:
        ordering = ["ticker_id", "timeframe", "ts"]
        constraints = [
            # Also the index behind "latest bar of a ticker" and range reads (ticker, timeframe, ts).
            models.UniqueConstraint(
                fields=["ticker", "timeframe", "ts"], name="bar_unique_ticker_timeframe_ts"
            ),
            models.CheckConstraint(
                condition=Q(low__gt=0) & Q(high__gte=models.F("low")) & Q(volume__gte=0),
                name="bar_prices_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticker_id} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"


class JobKind(models.TextChoices):
    FETCH_BARS = "fetch_bars", "fetch bars"
    COMPUTE_INDICATORS = "compute_indicators", "compute indicators"
    DETECT_PATTERNS = "detect_patterns", "detect patterns"
    ADD_TICKER = "add_ticker", "add a ticker (its whole pipeline)"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class FetchJob(models.Model):
    """One unit of queued work. The row is the source of truth: it is written before any message is sent."""

    kind = models.CharField(max_length=24, choices=JobKind.choices, default=JobKind.FETCH_BARS)
    ticker = models.ForeignKey(Ticker, on_delete=models.CASCADE, related_name="jobs")
    timeframe = models.CharField(max_length=8, choices=Timeframe.choices, default=Timeframe.DAILY)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    priority = models.PositiveSmallIntegerField(help_text="1 (highest) .. 10 (lowest)")
    queue = models.CharField(max_length=12, choices=[(q.value, q.value) for q in Queue])
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="fetch_jobs"
    )
    params = models.JSONField(default=dict, blank=True, help_text="e.g. start/end dates, provider")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_stored = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rejected_by_reason = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(
        default=dict, blank=True, help_text='multi-phase jobs: {"phase", "index", "total", "percent"}'
    )
    celery_task_id = models.CharField(max_length=64, blank=True)
    # Each publish bumps the token and the message carries it: a message whose token is stale (the job was
    # re-prioritised or re-published since) is a no-op, so a superseded message never runs the job twice.
    dispatch_token = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True, help_text="last time a message was sent")
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="retry backoff: not to start before this"
    )
    claimed_by = models.CharField(max_length=200, blank=True, help_text="worker host:pid running it")
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="a running job whose lease passed is presumed dead and re-queued"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=10), name="fetchjob_priority_1_10"
            ),
            # Dedup: one queued-or-running job per (kind, ticker, timeframe).
            models.UniqueConstraint(
                fields=["kind", "ticker", "timeframe"],
                condition=Q(status__in=["queued", "running"]),
                name="fetchjob_one_active_per_ticker_timeframe",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "queue", "priority", "created_at"], name="fetchjob_claim_order"),
            models.Index(fields=["requested_by", "status"], name="fetchjob_user_status"),
            # A ticker's latest jobs in a timeframe (its last success, its last outcome: the login's stale
            # check and the dashboard), found without reading the rest of its history.
            models.Index(fields=["ticker", "timeframe", "-finished_at"], name="fetchjob_ticker_latest"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} {self.ticker_id}/{self.timeframe} {self.status}"


class AlertState(models.Model):
    """The current state of one monitored condition, so an alert fires once per change, not once per check."""

    name = models.CharField(max_length=60, unique=True, help_text="e.g. queue_depth:background")
    active = models.BooleanField(default=False)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=300, blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {'ALERT' if self.active else 'ok'}"


class Phase(models.TextChoices):
    """The steps of a pipeline run, in order: bars in, then indicators over them, then patterns."""

    IMPORT = "import", "import"
    INDICATORS = "indicators", "indicators"
    PATTERNS = "patterns", "patterns"


PHASE_ORDER: tuple[str, ...] = tuple(Phase.values)


class RunTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "scheduled"
    MANUAL = "manual", "manual"
    RETRY = "retry", "retry of failed symbols"


class RunStatus(models.TextChoices):
    PENDING = "pending", "pending"
    RUNNING = "running", "running"
    COMPLETED = "completed", "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "completed with errors"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"
    PAUSED = "paused", "paused"


# A paused run is still the universe's active run: resuming it, not starting another, is the way on.
ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED)


class PipelineRun(models.Model):
    """One pass of the pipeline (import -> indicators -> patterns) over a universe for one session.

    The counters and percent are recomputed from the SymbolRunStatus rows, never incremented, so a
    redelivered message cannot count a symbol twice.
    """

    universe = models.ForeignKey(Universe, on_delete=models.PROTECT, related_name="runs")
    timeframe = models.CharField(max_length=8, choices=Timeframe.choices, default=Timeframe.DAILY)
    phases = models.JSONField(
        default=list, help_text='the phases to run, in order, e.g. ["import", "indicators"]'
    )
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    status = models.CharField(max_length=24, choices=RunStatus.choices, default=RunStatus.PENDING)
    session_date = models.DateField(help_text="the trading session whose bars the run brings in")
    current_phase = models.CharField(max_length=12, choices=Phase.choices, blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    total_symbols = models.PositiveIntegerField(default=0)
    done_symbols = models.PositiveIntegerField(default=0, help_text="symbols through every phase")
    failed_symbols = models.PositiveIntegerField(default=0)
    percent = models.FloatField(default=0.0, help_text="0..100 over every symbol and phase")
    current_symbol = models.CharField(max_length=10, blank=True)
    message = models.CharField(max_length=300, blank=True, help_text="why it failed or was cancelled")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_published_at = models.DateTimeField(null=True, blank=True, help_text="throttles progress events")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A second beat, a DST double-fire or a retried beat message finds this row and starts nothing.
            models.UniqueConstraint(
                fields=["universe", "timeframe", "session_date"],
                condition=Q(trigger="scheduled"),
                name="pipelinerun_one_scheduled_per_session",
            ),
            # A double click or a retry storm: one active run per universe and timeframe.
            models.UniqueConstraint(
                fields=["universe", "timeframe"],
                condition=Q(status__in=["pending", "running", "paused"]),
                name="pipelinerun_one_active_per_universe",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} {self.universe_id} {self.timeframe} {self.session_date} {self.status}"


class SymbolStatus(models.TextChoices):
    PENDING = "pending", "pending"  # waiting for its phase to be dispatched
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


OPEN_SYMBOL_STATUSES = (SymbolStatus.PENDING, SymbolStatus.QUEUED, SymbolStatus.RUNNING)


class SymbolRunStatus(models.Model):
    """Where one symbol of a run is: its phase and how that phase went. Failed rows keep the failing phase."""

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="symbols")
    ticker = models.ForeignKey(Ticker, on_delete=models.CASCADE, related_name="run_statuses")
    phase = models.CharField(max_length=12, choices=Phase.choices)
    status = models.CharField(max_length=10, choices=SymbolStatus.choices, default=SymbolStatus.PENDING)
    job = models.ForeignKey(
        FetchJob,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="run_symbols",
        help_text="the import job that fetches this symbol",
    )
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    rows_stored = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0, help_text="summed over the phases run so far")
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="last time its phase's message was sent"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True, help_text="worker host:pid running it")
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "ticker__symbol"]
        constraints = [
            models.UniqueConstraint(fields=["run", "ticker"], name="symbolrunstatus_unique_run_ticker")
        ]
        indexes = [models.Index(fields=["run", "phase", "status"], name="symbolrunstatus_run_phase")]
        verbose_name_plural = "symbol run statuses"

    def __str__(self) -> str:
        return f"run {self.run_id} {self.ticker_id} {self.phase} {self.status}"


class QueueState(models.Model):
    """Whether a queue is paused. Stored here, so a pause survives restarts of workers and beat."""

    queue = models.CharField(max_length=12, unique=True, choices=[(q.value, q.value) for q in Queue])
    paused = models.BooleanField(default=False)
    reason = models.CharField(
        max_length=200, blank=True, help_text="why, e.g. provider maintenance until 18:00"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["queue"]

    def __str__(self) -> str:
        return f"{self.queue}: {'paused' if self.paused else 'running'}"
