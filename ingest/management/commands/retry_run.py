"""manage.py retry_run RUN_ID [--wait]: re-run only the failed symbols of a run, as a new linked run."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.errors import InvalidInput
from ingest.management.commands.run_pipeline import follow_run
from ingest.services.pipeline import retry_run


class Command(BaseCommand):
    help = "Start a new run over the failed symbols of RUN_ID (linked to it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int)
        parser.add_argument("--wait", action="store_true", help="follow the new run until it ends")
        parser.add_argument("--timeout", type=float, default=3600.0)

    def handle(self, *args, **options) -> None:
        try:
            start = retry_run(run_id=options["run_id"])
        except InvalidInput as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"run {start.run_id}: retrying {start.symbols} failed symbols of run {options['run_id']}"
        )
        if options["wait"]:
            follow_run(self, run_id=start.run_id, timeout=options["timeout"])
