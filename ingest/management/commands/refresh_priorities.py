"""`manage.py refresh_priorities [--json]`: recompute every ticker's urgency factors now and show the result."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from ingest.services.urgency import refresh_priority_factors


class Command(BaseCommand):
    help = (
        "Recompute each ticker's urgency factors (what beat's 'refresh priorities' entry does every 10 "
        "minutes) and show how many tickers a background or analysis job would now get each priority for."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    def handle(self, *args, **options) -> None:
        result = refresh_priority_factors()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
            return
        self.stdout.write(
            f"priority factors of {result.tickers} tickers computed at {result.computed_at:%Y-%m-%d %H:%M:%S %Z}"
        )
        for queue, counts in result.priorities.items():
            by_priority = ", ".join(f"p{priority}: {n}" for priority, n in counts.items())
            self.stdout.write(f"{queue:<11}{by_priority}")
