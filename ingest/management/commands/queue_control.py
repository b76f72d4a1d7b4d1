"""manage.py queue_control pause|resume NAME [--reason TEXT] | --run RUN_ID: hold work without losing it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.errors import InvalidInput
from ingest.services.control import pause_queue, pause_run, resume_queue, resume_run
from stockhub.queues import Queue


class Command(BaseCommand):
    help = (
        "Pause or resume a queue (foreground, background, analysis) or, with --run, one pipeline run. Paused: "
        "nothing new starts, running tasks finish, queued work stays queued; resume continues where it stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["pause", "resume"])
        parser.add_argument("name", nargs="?", help=f"queue: {', '.join(Queue)}")
        parser.add_argument("--run", type=int, help="pause or resume this pipeline run instead of a queue")
        parser.add_argument("--reason", default="", help="why (shown with the paused state)")

    def handle(self, *args, **options) -> None:
        if (options["name"] is None) == (options["run"] is None):
            raise CommandError("give a queue NAME or --run RUN_ID (one of the two)")
        try:
            if options["run"] is not None:
                change = pause_run if options["action"] == "pause" else resume_run
                run = change(run_id=options["run"])
                self.stdout.write(f"run {run.id} {run.status}")
                return
            if options["action"] == "pause":
                state = pause_queue(queue=options["name"], reason=options["reason"])
            else:
                state = resume_queue(queue=options["name"])
        except InvalidInput as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"queue {state.queue} {'paused' if state.paused else 'resumed'}")
