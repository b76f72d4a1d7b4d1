"""The pipeline: a run over a universe moves phase by phase, import -> indicators -> patterns.

Each phase fans out. The import is one FetchJob per symbol on the background queue (the job machinery
claims, retries and reconciles it); indicators and patterns are batches of symbols on the analysis queue,
each symbol's SymbolRunStatus row being its record. Whoever ends the last open symbol of a phase moves the
run on, by a conditional update only one process can win. A failing symbol never fails the run: it is
marked failed with its code and the run ends `completed_with_errors`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ingest.errors import InvalidInput
from ingest.market import last_completed_session
from ingest.models import (
    ACTIVE_RUN_STATUSES,
    OPEN_SYMBOL_STATUSES,
    PHASE_ORDER,
    FetchJob,
    JobStatus,
    Phase,
    PipelineRun,
    RunStatus,
    RunTrigger,
    SymbolRunStatus,
    SymbolStatus,
    Timeframe,
    Universe,
)
from ingest.services import pipeline_events as events
from ingest.services.job_requests import publish_jobs, request_fetch
from ingest.services.jobs import cancel_jobs
from ingest.services.pipeline_batches import derives_in_batches, dispatch_batches
from ingest.services.sql_rows import aliased_columns, model_from_columns
from notifications.services import notify
from stockhub.queues import Reason

logger = logging.getLogger(__name__)

TRIGGER_REASON = {
    RunTrigger.SCHEDULED: Reason.SCHEDULED,
    RunTrigger.MANUAL: Reason.MANUAL_RUN,
    RunTrigger.RETRY: Reason.MANUAL_RUN,
}


class RunConflict(InvalidInput):
    """A run for that universe and timeframe is active, or the session's scheduled run exists."""

    def __init__(self, message: str, *, run_id: int) -> None:
        super().__init__(message)
        self.run_id = run_id


@dataclass(frozen=True)
class RunStart:
    run_id: int
    symbols: int


def parse_phases(phases: list[str] | str | None) -> list[str]:
    """Phases in pipeline order, from a list or "import,indicators"; InvalidInput naming a bad one."""
    if phases is None or phases == "" or phases == []:
        return list(PHASE_ORDER)
    names = [p.strip().lower() for p in (phases.split(",") if isinstance(phases, str) else phases)]
    unknown = [name for name in names if name not in PHASE_ORDER]
    if unknown or not names:
        raise InvalidInput(
            f"unknown phase(s) {', '.join(map(repr, unknown))}; use some of {', '.join(PHASE_ORDER)}"
        )
    return [phase for phase in PHASE_ORDER if phase in names]


def universe_named(slug: str) -> Universe:
    universe = Universe.objects.filter(slug=str(slug).strip().lower()).first()
    if universe is None:
        known = ", ".join(Universe.objects.values_list("slug", flat=True)) or "none yet"
        raise InvalidInput(
            f"unknown universe {slug!r} (loaded: {known}); load it with `manage.py load_universe {slug}`"
        )
    return universe


def start_pipeline_run(
    *,
    universe: str,
    trigger: str,
    timeframe: str = Timeframe.DAILY,
    phases: list[str] | str | None = None,
    session_date: date | None = None,
    requested_by=None,
    ticker_ids: list[int] | None = None,
    retry_of: PipelineRun | None = None,
    now: datetime | None = None,
) -> RunStart:
    """Record a run and its symbols and start its first phase after commit.

    One active run per (universe, timeframe) and one scheduled run per session: a second request raises
    RunConflict naming the run that exists, and starts nothing.
    """
    now = now or timezone.now()
    chosen = parse_phases(phases)
    if timeframe not in Timeframe.values:
        raise InvalidInput(f"unknown timeframe {timeframe!r}; use one of {', '.join(Timeframe.values)}")
    target = universe_named(universe)
    if ticker_ids is None:
        ticker_ids = list(target.members.filter(active=True).order_by("symbol").values_list("id", flat=True))
    if not ticker_ids:
        raise InvalidInput(f"universe {target.slug!r} has no active tickers; load it with load_universe")
    session_date = session_date or last_completed_session(now=now).day
    try:
        with transaction.atomic():
            run = PipelineRun.objects.create(
                universe=target,
                timeframe=timeframe,
                phases=chosen,
                trigger=trigger,
                status=RunStatus.RUNNING,
                session_date=session_date,
                current_phase=chosen[0],
                retry_of=retry_of,
                requested_by=requested_by,
                total_symbols=len(ticker_ids),
                started_at=now,
            )
            SymbolRunStatus.objects.bulk_create(
                SymbolRunStatus(run=run, ticker_id=ticker_id, phase=chosen[0]) for ticker_id in ticker_ids
            )
            transaction.on_commit(partial(begin_phase, run_id=run.id))
    except IntegrityError:
        raise _conflict(target, timeframe, trigger, session_date) from None
    logger.info(
        "run=%s universe=%s timeframe=%s phases=%s trigger=%s session=%s symbols=%s started",
        run.id,
        target.slug,
        timeframe,
        ",".join(chosen),
        trigger,
        session_date,
        len(ticker_ids),
    )
    return RunStart(run_id=run.id, symbols=len(ticker_ids))


def _conflict(universe: Universe, timeframe: str, trigger: str, session_date: date) -> RunConflict:
    active = PipelineRun.objects.filter(
        universe=universe, timeframe=timeframe, status__in=ACTIVE_RUN_STATUSES
    ).first()
    if active is not None:
        return RunConflict(
            f"run {active.id} for {universe.slug} {timeframe} is already {active.status}", run_id=active.id
        )
    done = PipelineRun.objects.filter(
        universe=universe, timeframe=timeframe, session_date=session_date, trigger=trigger
    ).first()
    run_id = done.id if done else 0
    return RunConflict(
        f"the scheduled {universe.slug} {timeframe} run of session {session_date} exists already (run {run_id})",
        run_id=run_id,
    )


def begin_phase(*, run_id: int) -> None:
    """Announce the run's current phase and send its work; a phase with nothing to do ends at once."""
    run = PipelineRun.objects.select_related("universe").get(id=run_id)
    if run.status != RunStatus.RUNNING:
        return
    if run.current_phase == run.phases[0]:
        events.publish_status(run=run, event="run.started")
    events.publish_phase(run=run, phase=run.current_phase, what="started")
    if run.current_phase == Phase.IMPORT:
        dispatch_imports(run=run)
    else:
        dispatch_batches(run=run)
    advance_run(run_id=run.id)


def dispatch_imports(*, run: PipelineRun) -> int:
    """One fetch job per pending symbol (an already active job for the symbol is joined, not doubled)."""
    rows = list(
        SymbolRunStatus.objects.filter(
            run=run, phase=Phase.IMPORT, status=SymbolStatus.PENDING
        ).select_related("ticker")
    )
    reason = TRIGGER_REASON[run.trigger]
    params = {"run_id": run.id}
    if derives_in_batches(run):
        params["defer_derive"] = True  # weekly/monthly bars: 50 tickers at a time in the analysis batches
    with transaction.atomic():
        to_send = []
        for row in rows:
            request = request_fetch(
                ticker=row.ticker,
                timeframe=run.timeframe,
                reason=reason,
                params=params,
                publish=False,
            )
            row.job_id, row.status, row.dispatched_at = request.job_id, SymbolStatus.QUEUED, timezone.now()
            if request.created or request.reprioritised:
                to_send.append(request.job_id)
        SymbolRunStatus.objects.bulk_update(rows, ["job", "status", "dispatched_at"])
        transaction.on_commit(partial(publish_jobs, job_ids=to_send))
    # A joined job may have ended between our request and our link: take its outcome now.
    record_import_outcomes(job_ids=[row.job_id for row in rows if row.job_id not in to_send])
    return len(rows)


def next_phase(run: PipelineRun, phase: str) -> str | None:
    position = run.phases.index(phase)
    return run.phases[position + 1] if position + 1 < len(run.phases) else None


def record_import_outcomes(*, job_ids: list[int]) -> None:
    """Import jobs ended: move their symbols to the next phase (or done), or mark them failed, then let
    the runs advance. Called when any job ends; a job no run waits for costs one indexed query."""
    if not job_ids:
        return
    rows = _symbols_of_ended_imports(job_ids)  # most jobs: none, nobody's run waits for them
    if not rows:
        return
    runs = PipelineRun.objects.select_related("universe").in_bulk({row.run_id for row in rows})
    for row in rows:
        row.run = runs[row.run_id]
        _apply_job_outcome(row=row, job=row.job)
    for run_id in sorted(runs):
        advance_run(run_id=run_id, run=runs[run_id])  # read just now: not read again


# Read at every end of a job, so written out (the ORM spent ~2 ms of CPU building it, and a probe before
# it): the open import rows of the ended jobs among the ids, each with its job.
_ENDED_IMPORTS_SQL = """
SELECT s.*, {job_columns}
FROM ingest_symbolrunstatus s JOIN ingest_fetchjob j ON j.id = s.job_id
WHERE s.job_id IN ({job_ids}) AND s.phase = %s AND s.status IN ({open_statuses})
    AND j.status NOT IN (%s, %s)
ORDER BY s.id
"""


def _symbols_of_ended_imports(job_ids: list[int]) -> list[SymbolRunStatus]:
    unique = sorted(set(job_ids))
    sql = _ENDED_IMPORTS_SQL.format(
        job_columns=aliased_columns(FetchJob, table_alias="j", prefix="fetchjob_"),
        job_ids=", ".join(["%s"] * len(unique)),
        open_statuses=", ".join(["%s"] * len(OPEN_SYMBOL_STATUSES)),
    )
    params = [*unique, Phase.IMPORT, *OPEN_SYMBOL_STATUSES, JobStatus.QUEUED, JobStatus.RUNNING]
    rows = list(SymbolRunStatus.objects.raw(sql, params))
    for row in rows:
        row.job = model_from_columns(FetchJob, row, prefix="fetchjob_")
    return rows


def _apply_job_outcome(*, row: SymbolRunStatus, job: FetchJob) -> None:
    ran_ms = (
        int((job.finished_at - job.started_at).total_seconds() * 1000)
        if job.started_at and job.finished_at
        else 0
    )
    common = {
        "attempts": job.attempts,
        "rows_stored": job.rows_stored,
        "rows_rejected": job.rows_rejected,
        "duration_ms": row.duration_ms + ran_ms,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
    if job.status == JobStatus.SUCCEEDED:
        following = next_phase(row.run, Phase.IMPORT)
        update = {
            "phase": following or Phase.IMPORT,
            "status": SymbolStatus.PENDING if following else SymbolStatus.DONE,
        }
        if following and row.run.status == RunStatus.CANCELLED:  # it finished its import; the rest is off
            update["status"] = SymbolStatus.CANCELLED
    elif job.status == JobStatus.CANCELLED:
        update = {
            "status": SymbolStatus.CANCELLED,
            "error_code": "CANCELLED",
            "error_message": "import job cancelled",
        }
    else:
        update = {
            "status": SymbolStatus.FAILED,
            "error_code": job.error_code,
            "error_message": job.error_message,
        }
    changed = SymbolRunStatus.objects.filter(
        id=row.id, phase=Phase.IMPORT, status__in=OPEN_SYMBOL_STATUSES
    ).update(**common, **update)
    if changed and job.status == JobStatus.FAILED:
        events.publish_symbol_failed(
            run_id=row.run_id,
            symbol=row.ticker.symbol,
            phase=Phase.IMPORT,
            code=job.error_code,
            message=job.error_message,
        )


def advance_run(*, run_id: int, run: PipelineRun | None = None) -> None:
    """Publish progress; when the current phase has no open symbol left, move to the next phase or finish.
    `run`: the run as the caller has just read it (with its universe); read here otherwise. Its phase moves
    by conditional updates, so a copy a moment old never moves it twice."""
    if run is None:
        run = PipelineRun.objects.select_related("universe").get(id=run_id)
    if run.status != RunStatus.RUNNING:
        return
    phase = run.current_phase
    if _phase_has_open_symbols(run_id=run.id, phase=phase):
        events.publish_progress_throttled(run=run)
        return
    following = next_phase(run, phase)
    if following is not None:
        if PipelineRun.objects.filter(id=run.id, status=RunStatus.RUNNING, current_phase=phase).update(
            current_phase=following
        ):
            events.publish_phase(run=run, phase=phase, what="completed")
            logger.info("run=%s phase %s completed; %s next", run.id, phase, following)
            begin_phase(run_id=run.id)
        return
    _finish_run(run=run, phase=phase)


def _phase_has_open_symbols(*, run_id: int, phase: str) -> bool:
    """Any symbol of the run's `phase` still pending, queued or running (asked at every import's end)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {SymbolRunStatus._meta.db_table} WHERE run_id = %s AND phase = %s"
            f" AND status IN ({', '.join(['%s'] * len(OPEN_SYMBOL_STATUSES))}) LIMIT 1",
            [run_id, phase, *OPEN_SYMBOL_STATUSES],
        )
        return cursor.fetchone() is not None


def _finish_run(*, run: PipelineRun, phase: str) -> None:
    failed = SymbolRunStatus.objects.filter(run=run, status=SymbolStatus.FAILED).count()
    done = SymbolRunStatus.objects.filter(run=run, status=SymbolStatus.DONE).count()
    if failed and not done:
        status = RunStatus.FAILED
    elif failed:
        status = RunStatus.COMPLETED_WITH_ERRORS
    else:
        status = RunStatus.COMPLETED
    now = timezone.now()
    if not PipelineRun.objects.filter(id=run.id, status=RunStatus.RUNNING, current_phase=phase).update(
        status=status,
        finished_at=now,
        done_symbols=done,
        failed_symbols=failed,
        percent=100.0,
        current_symbol="",
    ):
        return  # another process finished it
    run.refresh_from_db()
    events.publish_phase(run=run, phase=phase, what="completed")
    event = f"run.{'failed' if status == RunStatus.FAILED else 'completed'}"
    progress = events.publish_status(run=run, event=event)
    notify(event=event, payload=progress.as_payload())  # run-level: staff webhooks
    logger.info(
        "run=%s %s: %s done, %s failed of %s in %.1fs",
        run.id,
        status,
        done,
        failed,
        progress.total,
        progress.elapsed_seconds,
    )


def cancel_run(*, run_id: int, reason: str = "cancelled") -> PipelineRun:
    """Stop a run: its queued import jobs are cancelled (their messages become no-ops), symbols not yet
    started are cancelled, running ones finish. Cancelling an ended run changes nothing."""
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().select_related("universe").filter(id=run_id).first()
        if run is None:
            raise InvalidInput(f"no run {run_id}")
        if run.status not in ACTIVE_RUN_STATUSES:
            return run
        own_jobs = FetchJob.objects.filter(
            run_symbols__run=run, params__run_id=run.id, status=JobStatus.QUEUED
        )
        cancel_jobs(job_ids=list(own_jobs.values_list("id", flat=True)))
        # A symbol whose import job is running, or has just ended with its outcome not yet recorded, is
        # left to that outcome: "running symbols finish".
        SymbolRunStatus.objects.filter(
            ~Q(phase=Phase.IMPORT)
            | Q(job__isnull=True)
            | Q(job__status__in=[JobStatus.QUEUED, JobStatus.CANCELLED]),
            run=run,
            status__in=[SymbolStatus.PENDING, SymbolStatus.QUEUED],
        ).update(status=SymbolStatus.CANCELLED, error_code="CANCELLED", error_message=reason[:300])
        run.status, run.finished_at, run.message = RunStatus.CANCELLED, timezone.now(), reason[:300]
        run.save(update_fields=["status", "finished_at", "message"])
    events.publish_status(run=run, event="run.cancelled")
    logger.info("run=%s cancelled: %s", run.id, reason)
    return run


def retry_run(*, run_id: int, requested_by=None) -> RunStart:
    """A new run, linked to `run_id`, over only the symbols that failed there (every phase again)."""
    old = PipelineRun.objects.select_related("universe").filter(id=run_id).first()
    if old is None:
        raise InvalidInput(f"no run {run_id}")
    if old.status in ACTIVE_RUN_STATUSES:
        raise RunConflict(f"run {old.id} is still {old.status}; retry it once it has ended", run_id=old.id)
    failed = list(
        SymbolRunStatus.objects.filter(run=old, status=SymbolStatus.FAILED)
        .order_by("ticker__symbol")
        .values_list("ticker_id", flat=True)
    )
    if not failed:
        raise InvalidInput(f"run {old.id} has no failed symbols to retry")
    return start_pipeline_run(
        universe=old.universe.slug,
        trigger=RunTrigger.RETRY,
        timeframe=old.timeframe,
        phases=old.phases,
        session_date=old.session_date,
        requested_by=requested_by,
        ticker_ids=failed,
        retry_of=old,
    )
