"""What a pipeline run announces on Redis pub/sub (channels and payloads: docs/events.md).

Best effort, like every StockHub event: publishing never blocks or fails the run. Progress events are
throttled to one per STOCKHUB_PROGRESS_EVENT_SECONDS per run by a conditional update of the run row, so
every worker process shares one throttle; phase and run ends always go out.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ingest.models import PipelineRun
from ingest.run_progress import RunProgress, run_progress
from stockhub.events import publish_event

STATUS_CHANNEL = "stockhub:processing:status"
ERRORS_CHANNEL = "stockhub:errors"
TICKER_CHANNEL = "stockhub:ticker:{what}"  # progress, completed, failed


def phase_channel(phase: str, what: str) -> str:
    """stockhub:processing:<phase>:<started|progress|completed>."""
    return f"stockhub:processing:{phase}:{what}"


def publish_status(*, run: PipelineRun, event: str) -> RunProgress:
    """run.started / run.completed / run.cancelled ... on the status channel, with the progress figures."""
    progress = run_progress(run=run)
    publish_event(STATUS_CHANNEL, event, progress.as_payload())
    return progress


def publish_phase(*, run: PipelineRun, phase: str, what: str) -> None:
    """The start or end of a phase; the end carries the final progress figures of that phase."""
    progress = run_progress(run=run)
    payload = {**progress.as_payload(), "phase": phase}
    if what == "completed":
        publish_event(
            phase_channel(phase, "progress"), "phase.progress", payload
        )  # the last one always goes out
    publish_event(phase_channel(phase, what), f"phase.{what}", payload)


def publish_progress_throttled(*, run: PipelineRun) -> bool:
    """A progress event unless one went out for this run within the throttle window; True when sent.

    The conditional update also refuses a percent lower than the one announced last, so a slower worker
    computing an older figure can never make a subscriber's progress bar go backwards.
    """
    now = timezone.now()
    window = timedelta(seconds=settings.STOCKHUB_PROGRESS_EVENT_SECONDS)
    if run.progress_published_at and run.progress_published_at > now - window:
        return False  # most job ends land here: no need to count the run's rows
    progress = run_progress(run=run)
    claimed = (
        PipelineRun.objects.filter(id=run.id, percent__lte=progress.percent)
        .filter(Q(progress_published_at__isnull=True) | Q(progress_published_at__lte=now - window))
        .update(progress_published_at=now, percent=progress.percent, current_symbol=progress.current_symbol)
    )
    if not claimed or not run.current_phase:
        return False
    publish_event(phase_channel(run.current_phase, "progress"), "phase.progress", progress.as_payload())
    return True


def publish_symbol_failed(*, run_id: int, symbol: str, phase: str, code: str, message: str) -> None:
    publish_event(
        ERRORS_CHANNEL,
        "symbol.failed",
        {"run_id": run_id, "symbol": symbol, "phase": phase, "code": code, "message": message},
    )
