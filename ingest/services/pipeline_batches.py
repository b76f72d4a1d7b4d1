"""The analysis phases of a pipeline run: batches of symbols on the analysis queue.

A batch message carries the run id, the phase and the ids of its SymbolRunStatus rows; those rows are the
record. A worker claims the rows still queued (skip-locked, with a lease), analyses them together (one
panel per timeframe is ~17x cheaper than one symbol at a time), and moves each on. When a batch fails, its
symbols are tried one by one, so one bad series fails only itself.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import pandas as pd
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from ingest.models import (
    Bar,
    Phase,
    PipelineRun,
    RunStatus,
    SymbolRunStatus,
    SymbolStatus,
    Timeframe,
)
from ingest.services import pipeline_events as events
from ingest.services.derive import DERIVED_TIMEFRAMES, derive_longer_bars
from ingest.services.foreground_first import wait_while_foreground_active
from ingest.services.jobs import claimed_by_dead_local_worker, worker_id
from stockhub.errors import ErrorCode, StockHubError
from stockhub.logcontext import log_context
from stockhub.outages import is_outage, wait_for_database
from stockhub.queues import Queue, Reason, broker_priority, route

logger = logging.getLogger(__name__)

# Symbols per analysis batch: 50 daily series of five years are ~63k bars and about a second of work,
# small enough that progress moves every second or so and a lost batch costs little.
BATCH_SYMBOLS = 50
BATCH_TASK = f"{Queue.ANALYSIS}.run_pipeline_batch"


def analysis_timeframes(timeframe: str) -> list[str]:
    """A daily run also brings in the weekly and monthly bars derived from its daily bars."""
    return [timeframe, *DERIVED_TIMEFRAMES] if timeframe == Timeframe.DAILY else [timeframe]


def derives_in_batches(run: PipelineRun) -> bool:
    """A daily run that imports and then analyses derives its weekly and monthly bars in the first analysis
    phase, 50 tickers per call, instead of once per import job (~40 % of an incremental job's time)."""
    analysis_phases = [phase for phase in run.phases if phase != Phase.IMPORT]
    return run.timeframe == Timeframe.DAILY and Phase.IMPORT in run.phases and bool(analysis_phases)


def derive_batch(ticker_ids: list[int]) -> None:
    """Weekly and monthly bars of `ticker_ids` from their daily bars, from where they may have changed: a
    little before the newest derived week (the import re-read at most STOCKHUB_FETCH_OVERLAP_DAYS before its
    newest daily bar), or from the start for tickers never derived."""
    newest = dict(
        Bar.objects.filter(ticker_id__in=ticker_ids, timeframe=Timeframe.WEEKLY)
        .values("ticker_id")
        .annotate(newest=Max("ts"))
        .values_list("ticker_id", "newest")
    )
    never = [ticker_id for ticker_id in ticker_ids if ticker_id not in newest]
    # One transaction: a worker killed half-way leaves no weekly bars without their monthly ones, which the
    # batch's next attempt would take for "derived before" and only top up.
    with transaction.atomic():
        if never:
            derive_longer_bars(ticker_ids=never, since=None)
        if newest:
            since = min(newest.values()) - timedelta(days=settings.STOCKHUB_FETCH_OVERLAP_DAYS)
            derive_longer_bars(ticker_ids=list(newest), since=pd.Timestamp(since))


def dispatch_batches(*, run: PipelineRun, row_ids: list[int] | None = None) -> int:
    """Send the run's pending rows of its current phase (or `row_ids`) in batches; returns batches sent."""
    rows = SymbolRunStatus.objects.filter(run=run, phase=run.current_phase)
    rows = rows.filter(id__in=row_ids) if row_ids is not None else rows.filter(status=SymbolStatus.PENDING)
    ids = list(rows.order_by("ticker__symbol").values_list("id", flat=True))
    batches = [ids[start : start + BATCH_SYMBOLS] for start in range(0, len(ids), BATCH_SYMBOLS)]
    SymbolRunStatus.objects.filter(id__in=ids).update(
        status=SymbolStatus.QUEUED, dispatched_at=timezone.now()
    )
    for batch in batches:
        send_batch(run_id=run.id, phase=run.current_phase, row_ids=batch)
    return len(batches)


def send_batch(*, run_id: int, phase: str, row_ids: list[int], countdown: float | None = None) -> bool:
    """One batch message; False (rows stay queued for the reconciler) when the broker does not take it."""
    from celery_app import app

    queue, priority = route(Reason.ANALYSIS)
    try:
        app.send_task(
            BATCH_TASK,
            args=[run_id, phase, row_ids],
            queue=queue,
            priority=broker_priority(priority),
            countdown=countdown,
            retry=False,
        )
    except Exception as error:  # kombu/redis raise many types for "broker down"; all mean: try later
        logger.warning(
            "run=%s %s batch of %s not sent (%s); the reconciler will send it",
            run_id,
            phase,
            len(row_ids),
            error,
        )
        return False
    return True


def claim_rows(*, run_id: int, phase: str, row_ids: list[int]) -> list[SymbolRunStatus]:
    """Mark the batch's queued rows running for this worker; rows another live worker holds are left alone."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            # of=("self",): lock only the symbol rows. Without it PostgreSQL also locks the joined run row, and
            # a second worker claiming its batch at the same moment would skip every row of its own.
            SymbolRunStatus.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(id__in=row_ids, run_id=run_id, phase=phase, run__status=RunStatus.RUNNING)
            .filter(Q(status=SymbolStatus.QUEUED) | Q(status=SymbolStatus.RUNNING))
            .select_related("ticker")
        )
        rows = [row for row in rows if row.status == SymbolStatus.QUEUED or _lease_lost(row, now)]
        claimed = []
        lease = now + timedelta(seconds=settings.STOCKHUB_JOB_LEASE_SECONDS)
        for row in rows:
            # Conditional per row: where FOR UPDATE is not real (SQLite), a cancel or a second claim that got
            # in between wins instead of being overwritten.
            if SymbolRunStatus.objects.filter(id=row.id, status=row.status, attempts=row.attempts).update(
                status=SymbolStatus.RUNNING,
                started_at=now,
                claimed_by=worker_id(),
                attempts=row.attempts + 1,
                lease_expires_at=lease,
            ):
                row.status, row.started_at, row.attempts = SymbolStatus.RUNNING, now, row.attempts + 1
                claimed.append(row)
    return claimed


def _lease_lost(row: SymbolRunStatus, now: datetime) -> bool:
    """A redelivered batch whose earlier worker died: its lease passed, or its process is gone."""
    return (row.lease_expires_at is not None and row.lease_expires_at < now) or claimed_by_dead_local_worker(
        row.claimed_by
    )


def run_pipeline_batch(*, run_id: int, phase: str, row_ids: list[int]) -> None:
    """Analyse a batch of a run's symbols for `phase` and move them on; a redelivered batch does nothing."""
    from ingest.services.control import is_queue_paused

    with log_context(run_id=run_id, queue=Queue.ANALYSIS):
        if is_queue_paused(Queue.ANALYSIS):
            return  # its rows stay queued; resume_queue sends them again
        wait_while_foreground_active()
        rows = claim_rows(run_id=run_id, phase=phase, row_ids=row_ids)
        _resend_skipped(run_id=run_id, phase=phase, row_ids=row_ids, claimed=rows)
        if rows:
            try:
                _run_claimed(rows, run_id, phase)
            except (StockHubError, DatabaseError) as error:  # AnalysisError wraps the outage's error
                if not is_outage(error):
                    raise
                _resend_after_outage(rows, run_id, phase, error)


def _resend_after_outage(rows: list[SymbolRunStatus], run_id: int, phase: str, error: Exception) -> None:
    """The database went away mid-batch: once it answers, put the rows we still hold back to queued and send
    the batch again (analysis rows are upserts, so redoing them is harmless). If it stays away, the rows'
    lease ends and the reconciler re-sends them. An outage never fails a symbol."""
    if not wait_for_database():
        logger.warning(
            "run=%s %s batch: database unreachable (%s); left to the reconciler", run_id, phase, error
        )
        return
    ids = list(
        SymbolRunStatus.objects.filter(
            id__in=[row.id for row in rows], phase=phase, status=SymbolStatus.RUNNING, claimed_by=worker_id()
        ).values_list("id", flat=True)
    )
    SymbolRunStatus.objects.filter(id__in=ids).update(
        status=SymbolStatus.QUEUED, lease_expires_at=None, dispatched_at=timezone.now()
    )
    if ids:
        logger.warning("run=%s %s batch of %s: database connection lost; sent again", run_id, phase, len(ids))
        send_batch(run_id=run_id, phase=phase, row_ids=ids, countdown=1.0)


def _run_claimed(rows: list[SymbolRunStatus], run_id: int, phase: str) -> None:
    from ingest.services.pipeline import advance_run

    run = PipelineRun.objects.get(id=run_id)
    try:
        _analyse(rows, run, phase)
    except (StockHubError, DatabaseError) as error:
        if is_outage(error):
            raise  # not the symbols' fault: run_pipeline_batch sends them again
        if len(rows) > 1:
            logger.warning(
                "run=%s %s batch of %s failed (%s); trying each symbol alone", run_id, phase, len(rows), error
            )
            for row in rows:
                _analyse_alone(row, run, phase)
        else:
            _fail_rows(rows, run, phase, error)
    advance_run(run_id=run_id)


def _resend_skipped(*, run_id: int, phase: str, row_ids: list[int], claimed: list[SymbolRunStatus]) -> None:
    """Rows still queued that the claim skipped (locked by another transaction just then) are sent again in
    a second, rather than left for the reconciler's next pass."""
    skipped = set(row_ids) - {row.id for row in claimed}
    if not skipped:
        return
    waiting = list(
        SymbolRunStatus.objects.filter(
            id__in=skipped, phase=phase, status=SymbolStatus.QUEUED, run__status=RunStatus.RUNNING
        ).values_list("id", flat=True)
    )
    if waiting:
        send_batch(run_id=run_id, phase=phase, row_ids=waiting, countdown=1.0)


def _analyse(rows: list[SymbolRunStatus], run: PipelineRun, phase: str) -> None:
    from analysis.services.runs import run_batch

    started = time.perf_counter()
    ticker_ids = [row.ticker_id for row in rows]
    first_analysis = next(p for p in run.phases if p != Phase.IMPORT)
    if phase == first_analysis and derives_in_batches(run):
        derive_batch(ticker_ids)
    written = 0
    for timeframe in analysis_timeframes(run.timeframe):
        counts = run_batch(
            ticker_ids=ticker_ids,
            timeframe=timeframe,
            full=False,
            with_indicators=phase == Phase.INDICATORS,
            with_patterns=phase == Phase.PATTERNS,
        )
        written += counts.rows.new + counts.rows.updated + counts.events.new + counts.events.updated
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    _finish_rows(rows, run, phase, ms_each=elapsed_ms // len(rows), stored_each=written // len(rows))


def _analyse_alone(row: SymbolRunStatus, run: PipelineRun, phase: str) -> None:
    try:
        _analyse([row], run, phase)
    except (StockHubError, DatabaseError) as error:
        if is_outage(error):
            raise
        _fail_rows([row], run, phase, error)


def _finish_rows(
    rows: list[SymbolRunStatus], run: PipelineRun, phase: str, *, ms_each: int, stored_each: int
) -> None:
    position = run.phases.index(phase)
    following = run.phases[position + 1] if position + 1 < len(run.phases) else None
    now = timezone.now()
    for row in rows:
        row.duration_ms += ms_each
        row.rows_stored += stored_each
        row.finished_at, row.lease_expires_at = now, None
        row.phase = following or phase
        row.status = SymbolStatus.PENDING if following else SymbolStatus.DONE
    with transaction.atomic():
        # Only rows still running here: a cancel in between keeps its `cancelled`.
        still_ours = set(
            SymbolRunStatus.objects.filter(
                id__in=[r.id for r in rows], phase=phase, status=SymbolStatus.RUNNING
            )
            .select_for_update()
            .values_list("id", flat=True)
        )
        SymbolRunStatus.objects.bulk_update(
            [r for r in rows if r.id in still_ours],
            ["duration_ms", "rows_stored", "finished_at", "lease_expires_at", "phase", "status"],
        )


def _fail_rows(rows: list[SymbolRunStatus], run: PipelineRun, phase: str, error: Exception) -> None:
    code = error.code if isinstance(error, StockHubError) else ErrorCode.STORAGE_FAILED
    message = (error.message if isinstance(error, StockHubError) else str(error))[:2000]
    for row in rows:
        changed = SymbolRunStatus.objects.filter(id=row.id, phase=phase, status=SymbolStatus.RUNNING).update(
            status=SymbolStatus.FAILED,
            error_code=code,
            error_message=message,
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        if changed:
            logger.warning(
                "run=%s symbol=%s %s failed [%s] %s", run.id, row.ticker.symbol, phase, code, message
            )
            events.publish_symbol_failed(
                run_id=run.id, symbol=row.ticker.symbol, phase=phase, code=code, message=message
            )
