"""`manage.py import_csv PATH`: import a CSV file or folder of bars and report what happened to every row."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.models import Timeframe
from ingest.services import import_bars_file
from stockhub.errors import StockHubError


class Command(BaseCommand):
    help = (
        "Import OHLCV bars from a CSV file (gzip accepted) or a folder of them; re-importing changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="a .csv/.csv.gz file, or a folder of per-symbol files")
        parser.add_argument("--timeframe", choices=Timeframe.values, default=Timeframe.DAILY)
        parser.add_argument("--symbols", default="", help="comma-separated symbols to import (default: all)")
        parser.add_argument(
            "--no-derive", action="store_true", help="skip deriving weekly/monthly from daily"
        )
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    def handle(self, *args, **options) -> None:
        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"{path} does not exist; give a CSV file or a folder of CSV files")
        symbols = {s for s in options["symbols"].split(",") if s.strip()} or None
        try:
            result = import_bars_file(
                path=path, timeframe=options["timeframe"], symbols=symbols, derive=not options["no_derive"]
            )
        except StockHubError as error:
            raise CommandError(str(error)) from error
        summary = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        stored = summary["stored"]
        self.stdout.write(f"rows read      {summary['rows_read']:>10,}")
        self.stdout.write(
            f"bars stored    {stored['new']:>10,} new, {stored['updated']:,} updated, {stored['unchanged']:,} unchanged"
        )
        self.stdout.write(f"rows rejected  {summary['rejected_total']:>10,}")
        for reason, count in summary["rejected"].items():
            self.stdout.write(f"  {reason:<24}{count:>8,}")
        for timeframe, counts in summary["derived"].items():
            self.stdout.write(
                f"derived {timeframe:<7}{counts['new']:>10,} new, {counts['updated']:,} updated, "
                f"{counts['unchanged']:,} unchanged"
            )
        self.stdout.write(f"symbols        {summary['symbols']:>10,}")
        self.stdout.write(f"seconds        {summary['seconds']:>10.2f}")
