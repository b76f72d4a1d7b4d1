"""`manage.py fetch SYMBOL...`: fetch bars through the queues (default) or directly in this process (--sync)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ingest.models import (
    ACTIVE_JOB_STATUSES,
    FetchJob,
    JobStatus,
    Ticker,
    Timeframe,
    normalize_symbol,
    validate_symbol,
)
from ingest.services import fetch_and_store
from ingest.services.job_requests import request_fetch
from stockhub.config import PROVIDERS
from stockhub.errors import ErrorCode, StockHubError
from stockhub.queues import fetch_reason_for_priority

POLL_SECONDS = 0.5
# --sync waits its turn under the provider's rate limit (a person asked for these symbols, here and now)
# instead of failing a symbol whose slot is more than STOCKHUB_RATE_LIMIT_MAX_WAIT_SECONDS away.
SYNC_RATE_LIMIT_WAIT_SECONDS = 3600.0


def _date(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError as error:
        raise CommandError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2024-01-31") from error
    return day.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Fetch bars for symbols: queued as jobs (--priority, --wait) or directly in this process (--sync)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbols", nargs="+", help="e.g. AAPL MSFT BRK.B")
        parser.add_argument("--timeframe", choices=Timeframe.values, default=Timeframe.DAILY)
        parser.add_argument("--start", type=_date, help="YYYY-MM-DD (default: incremental, or the lookback)")
        parser.add_argument("--end", type=_date, help="YYYY-MM-DD (default: now)")
        parser.add_argument("--provider", choices=PROVIDERS, help="default: STOCKHUB_PROVIDER")
        parser.add_argument(
            "--priority", type=int, default=3, help="1-3 foreground, 4-6 background (default 3)"
        )
        parser.add_argument("--wait", action="store_true", help="wait for the queued jobs and show progress")
        parser.add_argument("--timeout", type=float, default=600, help="seconds --wait waits at most")
        parser.add_argument("--sync", action="store_true", help="fetch here and now, without the queues")

    def handle(self, *args, **options) -> None:
        symbols = [normalize_symbol(s) for s in options["symbols"]]
        for symbol in symbols:
            try:
                validate_symbol(symbol)
            except ValidationError as error:
                raise CommandError(error.messages[0]) from error
        if options["start"] and options["end"] and options["start"] > options["end"]:
            raise CommandError(
                f"--start {options['start']:%Y-%m-%d} is after --end {options['end']:%Y-%m-%d}"
            )
        if options["sync"]:
            self._fetch_here(symbols, options)
        else:
            self._queue(symbols, options)

    def _queue(self, symbols: list[str], options: dict) -> None:
        try:
            reason = fetch_reason_for_priority(options["priority"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        params = {k: options[k].isoformat() for k in ("start", "end") if options[k]}
        if options["provider"]:
            params["provider"] = options["provider"]
        job_ids = []
        for symbol in symbols:
            ticker, _ = Ticker.objects.get_or_create(symbol=symbol)
            request = request_fetch(
                ticker=ticker,
                timeframe=options["timeframe"],
                reason=reason,
                priority=options["priority"],
                params=params,
            )
            job = FetchJob.objects.get(id=request.job_id)
            note = "new" if request.created else ("moved up" if request.reprioritised else "already active")
            sent = (
                "sent"
                if job.published_at
                else "not sent yet: broker unreachable, the reconciler will send it"
            )
            self.stdout.write(
                f"{symbol}: job {job.id} on {job.queue} priority {job.priority} ({note}; {sent})"
            )
            job_ids.append(job.id)
        if options["wait"]:
            self._wait(job_ids, options["timeout"])

    def _wait(self, job_ids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            jobs = list(FetchJob.objects.filter(id__in=job_ids).select_related("ticker"))
            done = [j for j in jobs if j.status not in ACTIVE_JOB_STATUSES]
            running = sum(1 for j in jobs if j.status == JobStatus.RUNNING)
            line = f"{len(done)}/{len(jobs)} done, {running} running"
            if line != last:
                self.stdout.write(line)
                last = line
            if len(done) == len(jobs):
                break
            if time.monotonic() > deadline:
                raise CommandError(f"gave up waiting after {timeout:.0f}s; the jobs go on (see queue_stats)")
            time.sleep(POLL_SECONDS)
        failed = 0
        for job in sorted(jobs, key=lambda j: j.ticker.symbol):
            if job.status == JobStatus.SUCCEEDED:
                self.stdout.write(
                    f"{job.ticker.symbol}: succeeded, {job.rows_stored} bars stored, "
                    f"{job.rows_rejected} rejected, attempts {job.attempts}"
                )
            else:
                failed += 1
                self.stderr.write(f"{job.ticker.symbol}: {job.status} [{job.error_code}] {job.error_message}")
        if failed:
            raise CommandError(f"{failed} of {len(jobs)} jobs did not succeed")

    def _fetch_here(self, symbols: list[str], options: dict) -> None:
        timeframe = options["timeframe"]
        end = options["end"] or timezone.now()
        start = options["start"] or end - timedelta(days=settings.STOCKHUB_LOOKBACK_DAYS[timeframe])
        failures = 0
        for symbol in symbols:
            ticker, created = Ticker.objects.get_or_create(symbol=symbol)
            try:
                result = fetch_and_store(
                    ticker=ticker,
                    timeframe=timeframe,
                    start=start,
                    end=end,
                    provider_name=options["provider"],
                    max_rate_limit_wait_seconds=SYNC_RATE_LIMIT_WAIT_SECONDS,
                )
            except StockHubError as error:
                failures += 1
                if created and error.code == ErrorCode.SYMBOL_NOT_FOUND:
                    ticker.delete()  # an unknown symbol should not linger as a ticker
                self.stderr.write(f"{symbol}: failed [{error.code}] {error.message}")
                continue
            rejected = ", ".join(f"{k}={v}" for k, v in sorted(result.rejected.items())) or "none"
            self.stdout.write(
                f"{symbol}: {result.rows_read} rows read, {result.stored.new} new, {result.stored.updated} updated, "
                f"{result.stored.unchanged} unchanged, rejected: {rejected}"
            )
        if failures:
            raise CommandError(f"{failures} of {len(symbols)} symbols failed")
