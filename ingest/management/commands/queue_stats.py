"""`manage.py queue_stats [--json]`: per-queue depth, priorities, throughput, waits, and active alerts."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from ingest.monitoring import queue_report


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


class Command(BaseCommand):
    help = "Show queue depth (from the broker), running jobs, throughput, wait and run times, and alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, **options) -> None:
        report = queue_report()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        self.stdout.write(
            f"{'queue':<11}{'depth':>7}{'queued':>8}{'running':>8}{'ok/h':>7}{'fail/h':>7}"
            f"{'/min':>7}{'oldest':>9}{'wait p50':>10}{'p95':>8}{'run p50':>9}{'p95':>8}"
        )
        for q in report.queues:
            depth = "?" if q.depth is None else str(q.depth)
            self.stdout.write(
                f"{q.queue:<11}{depth:>7}{q.queued:>8}{q.running:>8}{q.succeeded_last_hour:>7}"
                f"{q.failed_last_hour:>7}{q.throughput_per_minute:>7.1f}{_seconds(q.oldest_waiting_seconds):>9}"
                f"{_seconds(q.wait_p50_seconds):>10}{_seconds(q.wait_p95_seconds):>8}"
                f"{_seconds(q.run_p50_seconds):>9}{_seconds(q.run_p95_seconds):>8}"
            )
            if q.paused:
                self.stdout.write(
                    self.style.WARNING(f"{'':<11}PAUSED: nothing new starts until it is resumed")
                )
            if q.depth_by_priority:
                by_priority = ", ".join(f"p{p}: {n}" for p, n in sorted(q.depth_by_priority.items()))
                self.stdout.write(f"{'':<11}by priority: {by_priority}")
        if any(q.depth is None for q in report.queues):
            self.stdout.write("broker unreachable: depths unknown")
        self.stdout.write(f"data staleness: {report.staleness_hours:.2f} h")
        for alert in report.alerts:
            self.stdout.write(self.style.WARNING(f"ALERT {alert.message}"))
        if not report.alerts:
            self.stdout.write("no alerts")
