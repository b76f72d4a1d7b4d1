"""How far a pipeline run is: counts, percent, rate, ETA and current symbol, read from its symbol rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from ingest.models import (
    FetchJob,
    JobStatus,
    PipelineRun,
    RunStatus,
    SymbolRunStatus,
    SymbolStatus,
)

ENDED_SYMBOL_STATUSES = (SymbolStatus.FAILED, SymbolStatus.CANCELLED)


@dataclass(frozen=True)
class RunProgress:
    """percent counts every (symbol, phase) step: a symbol that failed counts all of its steps as done, so
    percent only ever grows and reaches 100 when every symbol has ended one way or the other."""

    run_id: int
    universe: str
    timeframe: str
    trigger: str
    status: str
    phase: str
    phases: list[str]
    phase_number: int  # 1-based, "phase X of N"
    total: int
    done: int  # through every phase
    failed: int
    cancelled: int
    percent: float
    symbols_per_minute: float | None
    avg_ms_per_symbol: float | None
    eta_seconds: float | None
    elapsed_seconds: float
    current_symbol: str
    session_date: str
    started_at: datetime | None
    finished_at: datetime | None
    retry_of: int | None

    def as_payload(self) -> dict:
        payload = asdict(self)
        payload["percent"] = round(self.percent, 2)
        for key in ("symbols_per_minute", "avg_ms_per_symbol", "eta_seconds", "elapsed_seconds"):
            if payload[key] is not None:
                payload[key] = round(payload[key], 1)
        return payload


def run_progress(*, run: PipelineRun, now: datetime | None = None) -> RunProgress:
    """The progress of `run` as of now; cheap (one grouped count over the run's symbol rows)."""
    now = now or timezone.now()
    phases = list(run.phases) or [""]
    steps_per_symbol = len(phases)
    total = done = failed = cancelled = steps = 0
    counts = SymbolRunStatus.objects.filter(run=run).values_list("phase", "status").annotate(n=Count("id"))
    for phase, status, n in counts:
        total += n
        if status == SymbolStatus.FAILED:
            failed += n
            steps += n * steps_per_symbol
        elif status == SymbolStatus.CANCELLED:
            cancelled += n
            steps += n * steps_per_symbol
        elif status == SymbolStatus.DONE:
            done += n
            steps += n * steps_per_symbol
        else:
            steps += n * (phases.index(phase) if phase in phases else 0)
    percent = 100.0 * steps / (total * steps_per_symbol) if total else 100.0
    end = run.finished_at or now
    elapsed = max((end - run.started_at).total_seconds(), 0.0) if run.started_at else 0.0
    symbols_finished = steps / steps_per_symbol
    rate = symbols_finished / elapsed if elapsed > 0 and symbols_finished else None
    remaining = total - symbols_finished
    eta = None
    if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
        eta = remaining / rate if rate else None
    elif total:
        eta = 0.0
    return RunProgress(
        run_id=run.id,
        universe=run.universe.slug,
        timeframe=run.timeframe,
        trigger=run.trigger,
        status=run.status,
        phase=run.current_phase,
        phases=list(run.phases),
        phase_number=phases.index(run.current_phase) + 1 if run.current_phase in phases else 0,
        total=total,
        done=done,
        failed=failed,
        cancelled=cancelled,
        percent=percent,
        symbols_per_minute=rate * 60 if rate else None,
        avg_ms_per_symbol=1000 / rate if rate else None,
        eta_seconds=eta,
        elapsed_seconds=elapsed,
        current_symbol=current_symbol(run=run) if run.status == RunStatus.RUNNING else run.current_symbol,
        session_date=run.session_date.isoformat(),
        started_at=run.started_at,
        finished_at=run.finished_at,
        retry_of=run.retry_of_id,
    )


def current_symbol(*, run: PipelineRun) -> str:
    """The symbol the run started on most recently: its newest running import job or analysis row."""
    job = (
        FetchJob.objects.filter(run_symbols__run=run, status=JobStatus.RUNNING)
        .order_by("-started_at")
        .values_list("ticker__symbol", flat=True)
        .first()
    )
    if job:
        return job
    row = (
        SymbolRunStatus.objects.filter(run=run, status=SymbolStatus.RUNNING)
        .order_by("-started_at")
        .values_list("ticker__symbol", flat=True)
        .first()
    )
    return row or run.current_symbol
