"""manage.py run_pipeline --universe sp500 [--phases import,indicators] [--timeframe daily] [--wait]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.errors import InvalidInput
from ingest.models import PipelineRun, RunStatus, RunTrigger, Timeframe
from ingest.run_progress import RunProgress, run_progress
from ingest.services.pipeline import start_pipeline_run

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Start a pipeline run (import -> indicators -> patterns) over a universe; --wait shows its progress."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--universe", default="sp500", help="universe slug (default sp500)")
        parser.add_argument(
            "--phases", default="", help="comma-separated subset of import,indicators,patterns"
        )
        parser.add_argument("--timeframe", default=Timeframe.DAILY, choices=Timeframe.values)
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument(
            "--timeout", type=float, default=3600.0, help="seconds --wait waits (default 3600)"
        )

    def handle(self, *args, **options) -> None:
        try:
            start = start_pipeline_run(
                universe=options["universe"],
                trigger=RunTrigger.MANUAL,
                timeframe=options["timeframe"],
                phases=options["phases"] or None,
            )
        except InvalidInput as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"run {start.run_id}: {start.symbols} symbols")
        if not options["wait"]:
            self.stdout.write(
                f"follow it with the dashboard or `manage.py run_pipeline ... --wait`; stop it with `manage.py cancel_run {start.run_id}`"
            )
            return
        follow_run(self, run_id=start.run_id, timeout=options["timeout"])


def follow_run(command: BaseCommand, *, run_id: int, timeout: float) -> RunProgress:
    """Print a progress line until the run ends (in place on a terminal, one line per change otherwise)."""
    interactive = command.stdout.isatty()
    deadline = time.monotonic() + timeout
    last_line = ""
    while True:
        run = PipelineRun.objects.select_related("universe").get(id=run_id)
        progress = run_progress(run=run)
        line = progress_line(progress)
        if line != last_line:
            command.stdout.write(("\r" + line) if interactive else line, ending="" if interactive else "\n")
            command.stdout.flush()
            last_line = line
        if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            break
        if time.monotonic() > deadline:
            raise CommandError(
                f"run {run_id} still {run.status} after {timeout:.0f}s; it goes on in the workers"
            )
        time.sleep(0.5)
    if interactive:
        command.stdout.write("")
    failures = run.symbols.filter(status="failed").select_related("ticker").order_by("ticker__symbol")
    for row in failures[:50]:
        command.stdout.write(
            f"  {row.ticker.symbol}: {row.phase} failed [{row.error_code}] {row.error_message[:150]}"
        )
    if failures.count() > 50:
        command.stdout.write(
            f"  ... and {failures.count() - 50} more (see admin or GET /api/processing/status/{run_id})"
        )
    command.stdout.write(
        f"run {run_id} {run.status}: {progress.done} done, {progress.failed} failed of {progress.total}"
    )
    if run.status == RunStatus.COMPLETED_WITH_ERRORS:
        command.stdout.write(f"retry the failed symbols with `manage.py retry_run {run_id}`")
    return progress


def progress_line(progress: RunProgress) -> str:
    filled = int(BAR_WIDTH * progress.percent / 100)
    rate = f"{progress.symbols_per_minute:.0f} sym/min" if progress.symbols_per_minute else "- sym/min"
    eta = f"ETA {progress.eta_seconds:.0f}s" if progress.eta_seconds is not None else "ETA -"
    phase = f"{progress.phase} {progress.phase_number}/{len(progress.phases)}"
    return (
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.percent:5.1f}% {phase}  "
        f"{progress.done}/{progress.total} done, {progress.failed} failed  {rate}  {eta}  {progress.current_symbol}"
    )
