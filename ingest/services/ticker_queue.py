"""The ticker queue: adding one ticker runs its whole pipeline as one foreground job, phase by phase.

validate -> fetch daily -> fetch hourly -> derive weekly -> derive monthly -> indicators per timeframe ->
patterns -> done. The FetchJob (kind add_ticker) is the persistent queue entry: queued / running /
succeeded / failed / cancelled, with "phase X of N", percent and elapsed time in its `progress`, and each
phase announced on stockhub:ticker:progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from ingest.errors import InvalidInput
from ingest.models import (
    Bar,
    FetchJob,
    JobKind,
    JobStatus,
    Ticker,
    Timeframe,
    normalize_symbol,
    validate_symbol,
)
from ingest.ratelimit import acquire_provider_slot
from ingest.services.derive import derive_longer_bars
from ingest.services.imports import store_bars
from ingest.services.job_requests import JobRequest, request_job
from ingest.services.jobs import JobOutcome, cancel_jobs, retry_jobs
from ingest.services.pipeline_events import TICKER_CHANNEL
from notifications.services import notify
from stockhub.errors import StockHubError
from stockhub.events import publish_event
from stockhub.queues import Reason

logger = logging.getLogger(__name__)

ANALYSED_TIMEFRAMES = (Timeframe.DAILY, Timeframe.HOURLY, Timeframe.WEEKLY, Timeframe.MONTHLY)
PHASES = (
    "validate",
    "fetch daily",
    "fetch hourly",
    "derive weekly",
    "derive monthly",
    *(f"indicators {timeframe}" for timeframe in ANALYSED_TIMEFRAMES),
    "patterns",
    "done",
)


def add_ticker(*, symbol: str, requested_by=None) -> JobRequest:
    """Queue the whole pipeline of one ticker in the foreground (priority of a user request).

    The symbol is checked first (InvalidInput says what is wrong); asking again while it is queued or
    running returns the same job.
    """
    normalized = normalize_symbol(symbol)
    try:
        validate_symbol(normalized)
    except ValidationError as error:
        raise InvalidInput(error.messages[0]) from None
    ticker, _ = Ticker.objects.get_or_create(symbol=normalized)
    return request_job(
        kind=JobKind.ADD_TICKER,
        ticker=ticker,
        timeframe=Timeframe.DAILY,
        reason=Reason.USER_REQUEST,
        requested_by=requested_by,
    )


def cancel_ticker(*, symbol: str, requested_by=None) -> int:
    """Cancel the queued add-ticker job of `symbol` (the caller's own unless staff); returns how many."""
    return cancel_jobs(
        job_ids=list(
            _entries(symbol, requested_by).filter(status=JobStatus.QUEUED).values_list("id", flat=True)
        )
    )


def retry_ticker(*, symbol: str, requested_by=None) -> list[int]:
    """Queue again the newest add-ticker job of `symbol` if it failed or was cancelled."""
    newest = _entries(symbol, requested_by).order_by("-created_at").first()
    if newest is None:
        raise InvalidInput(f"{normalize_symbol(symbol)} was never added")
    if newest.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise InvalidInput(
            f"{newest.ticker.symbol} is {newest.status}; only failed or cancelled tickers are retried"
        )
    return retry_jobs(job_ids=[newest.id], requested_by=requested_by)


def _entries(symbol: str, requested_by):
    entries = FetchJob.objects.filter(kind=JobKind.ADD_TICKER, ticker__symbol=normalize_symbol(symbol))
    if requested_by is not None and not requested_by.is_staff:
        entries = entries.filter(requested_by=requested_by)
    return entries


def add_ticker_job(job: FetchJob) -> JobOutcome:
    """The work of an add-ticker job: every phase in order, reporting each; a failure names its phase."""
    started = time.monotonic()
    stored = rejected = 0
    steps: dict[str, Callable[[], tuple[int, int]]] = {
        "validate": lambda: _validate(job.ticker),
        "fetch daily": lambda: _fetch(job, Timeframe.DAILY, required=True),
        "fetch hourly": lambda: _fetch(job, Timeframe.HOURLY, required=False),
        "derive weekly": lambda: _derive(job.ticker, Timeframe.WEEKLY),
        "derive monthly": lambda: _derive(job.ticker, Timeframe.MONTHLY),
        **{f"indicators {tf}": (lambda tf=tf: _indicators(job.ticker, tf)) for tf in ANALYSED_TIMEFRAMES},
        "patterns": lambda: _patterns(job.ticker),
        "done": lambda: (0, 0),
    }
    for index, phase in enumerate(PHASES, start=1):
        _report(job, phase, index, started)
        try:
            new, bad = steps[phase]()
        except StockHubError as error:
            final = not error.retryable or job.attempts >= settings.STOCKHUB_JOB_MAX_ATTEMPTS
            if final:
                payload = {
                    **_payload(job, phase, index, started),
                    "code": error.code,
                    "message": error.message,
                }
                publish_event(TICKER_CHANNEL.format(what="failed"), "ticker.failed", payload)
                notify(event="ticker.failed", payload=payload, owner_ids=_interested(job))
            error.message = f"{phase}: {error.message}"
            raise
        stored, rejected = stored + new, rejected + bad
    payload = _payload(job, "done", len(PHASES), started)
    publish_event(TICKER_CHANNEL.format(what="completed"), "ticker.completed", payload)
    notify(event="ticker.completed", payload=payload, owner_ids=_interested(job))
    return JobOutcome(
        rows_stored=stored, rows_rejected=rejected, summary=f"{len(PHASES)} phases, {stored} rows stored"
    )


def _interested(job: FetchJob) -> list[int]:
    """Who hears about a ticker: whoever added it and everyone holding it."""
    from notifications.selectors import holders_of

    users = set(holders_of(ticker_ids=[job.ticker_id]))
    return sorted(users | ({job.requested_by_id} if job.requested_by_id else set()))


def _payload(job: FetchJob, phase: str, index: int, started: float) -> dict:
    return {
        "job_id": job.id,
        "user_id": job.requested_by_id,  # so a page shows a person only their own entries
        "symbol": job.ticker.symbol,
        "phase": phase,
        "phase_number": index,
        "phases": len(PHASES),
        "percent": round(100.0 * (index - 1) / (len(PHASES) - 1), 1),
        "elapsed_seconds": round(time.monotonic() - started, 2),
    }


def _report(job: FetchJob, phase: str, index: int, started: float) -> None:
    payload = _payload(job, phase, index, started)
    FetchJob.objects.filter(id=job.id).update(progress=payload)
    publish_event(TICKER_CHANNEL.format(what="progress"), "ticker.progress", payload)


def _validate(ticker: Ticker) -> tuple[int, int]:
    if not ticker.active:
        raise InvalidInput(f"{ticker.symbol} is marked inactive; activate it in admin first")
    return 0, 0


def _fetch(job: FetchJob, timeframe: str, *, required: bool) -> tuple[int, int]:
    """Fetch a timeframe incrementally (or its lookback); hourly bars are a bonus a provider may not have."""
    from ingest.providers import get_provider

    now = timezone.now()
    newest = (
        Bar.objects.filter(ticker=job.ticker, timeframe=timeframe)
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
    )
    start = (
        newest - timedelta(days=settings.STOCKHUB_FETCH_OVERLAP_DAYS)
        if newest
        else now - timedelta(days=settings.STOCKHUB_LOOKBACK_DAYS[timeframe])
    )
    provider = get_provider(job.params.get("provider"))
    try:
        acquire_provider_slot(
            provider=provider.name, max_wait_seconds=settings.STOCKHUB_RATE_LIMIT_MAX_WAIT_SECONDS
        )
        frame = provider.fetch_bars(job.ticker.symbol, timeframe, start, now)
    except StockHubError as error:
        if required or error.retryable:
            raise
        logger.info(
            "job=%s ticker=%s: no %s bars (%s); going on", job.id, job.ticker.symbol, timeframe, error.message
        )
        return 0, 0
    result = store_bars(ticker=job.ticker, timeframe=timeframe, bars=frame, source=provider.name)
    if required and result.rows_read and result.rejected_total == result.rows_read:
        raise InvalidInput(
            f"all {result.rows_read} {timeframe} bars of {job.ticker.symbol} from the provider were invalid"
        )
    return result.stored.new + result.stored.updated, result.rejected_total


def _derive(ticker: Ticker, timeframe: str) -> tuple[int, int]:
    counts = derive_longer_bars(ticker_ids=[ticker.id], since=None, timeframes=(timeframe,))[timeframe]
    return counts.new + counts.updated, 0


def _indicators(ticker: Ticker, timeframe: str) -> tuple[int, int]:
    from analysis.services import compute_indicators

    if not Bar.objects.filter(ticker=ticker, timeframe=timeframe).exists():
        return 0, 0
    return compute_indicators(ticker=ticker, timeframe=timeframe).rows_written, 0


def _patterns(ticker: Ticker) -> tuple[int, int]:
    from analysis.services import detect_patterns

    new = 0
    for timeframe in ANALYSED_TIMEFRAMES:
        if Bar.objects.filter(ticker=ticker, timeframe=timeframe).exists():
            new += detect_patterns(ticker=ticker, timeframe=timeframe).events_new
    return new, 0
