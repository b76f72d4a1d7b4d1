"""manage.py add_ticker SYMBOL... [--wait]: queue each ticker's whole pipeline in the foreground."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.errors import InvalidInput
from ingest.models import FetchJob, JobStatus
from ingest.services.ticker_queue import add_ticker


class Command(BaseCommand):
    help = "Add tickers: validate, fetch daily and hourly, derive weekly/monthly, indicators, patterns."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbols", nargs="+")
        parser.add_argument("--wait", action="store_true", help="show each ticker's phases until all end")
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args, **options) -> None:
        job_ids = []
        for symbol in options["symbols"]:
            try:
                request = add_ticker(symbol=symbol)
            except InvalidInput as error:
                raise CommandError(error.message) from None
            job_ids.append(request.job_id)
            state = "queued" if request.created else "already queued or running"
            self.stdout.write(f"{symbol.upper()}: job {request.job_id} {state}")
        if options["wait"]:
            self._wait(job_ids, options["timeout"])

    def _wait(self, job_ids: list[int], timeout: float) -> None:
        deadline, seen = time.monotonic() + timeout, {}
        while True:
            jobs = list(FetchJob.objects.filter(id__in=job_ids).select_related("ticker"))
            for job in jobs:
                phase = job.progress.get("phase", "waiting")
                line = f"{job.ticker.symbol}: {job.status}"
                if job.status == JobStatus.RUNNING or job.progress:
                    line += f", phase {job.progress.get('phase_number', 0)} of {job.progress.get('phases', '?')} ({phase}), {job.progress.get('percent', 0)}%"
                if job.error_code:
                    line += f" [{job.error_code}] {job.error_message}"
                if seen.get(job.id) != line:
                    self.stdout.write(line)
                    seen[job.id] = line
            if all(job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) for job in jobs):
                failed = [job for job in jobs if job.status != JobStatus.SUCCEEDED]
                if failed:
                    raise CommandError(f"{len(failed)} of {len(jobs)} tickers did not complete")
                return
            if time.monotonic() > deadline:
                raise CommandError(f"still running after {timeout:.0f}s; the workers go on")
            time.sleep(0.3)
