"""manage.py cancel_run RUN_ID: stop a pipeline run (queued work cancelled, running symbols finish)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.errors import InvalidInput
from ingest.services.pipeline import cancel_run


class Command(BaseCommand):
    help = "Cancel a pipeline run: queued symbols are cancelled, running ones finish."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int)

    def handle(self, *args, **options) -> None:
        try:
            run = cancel_run(run_id=options["run_id"], reason="cancelled with manage.py cancel_run")
        except InvalidInput as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"run {run.id} {run.status}")
