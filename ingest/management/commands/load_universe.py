"""`manage.py load_universe NAME [--csv PATH]`: a universe from the lists shipped with StockHub or a CSV."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.errors import InvalidInput
from ingest.models import UniverseKind
from ingest.services.universes import SHIPPED_NAMES, load_shipped_universe, load_universe, read_members_csv

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


class Command(BaseCommand):
    help = (
        "Load a universe: a shipped index list (e.g. dow30), or any list from a CSV with a `symbol` column "
        "(name and sector optional). Loading again replaces the members."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the universe's short name, e.g. dow30, sp500, my-watchlist")
        parser.add_argument("--csv", type=Path, help="CSV file of members (required unless NAME is shipped)")
        parser.add_argument("--title", default="", help="display name (default: the index name or NAME)")

    def handle(self, *args, **options) -> None:
        slug = options["name"].lower()
        if not SLUG.match(slug):
            raise CommandError(
                f"universe name {options['name']!r}: use 1-50 of a-z 0-9 _ - (e.g. my-watchlist)"
            )
        try:
            if options["csv"]:
                if not options["csv"].is_file():
                    raise InvalidInput(f"no such file: {options['csv']}")
                kind = UniverseKind.INDEX if slug in SHIPPED_NAMES else UniverseKind.USER
                result = load_universe(
                    slug=slug, members=read_members_csv(path=options["csv"]), name=options["title"], kind=kind
                )
            else:
                result = load_shipped_universe(slug=slug)
        except InvalidInput as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"universe {result.slug}: {result.members} members ({result.tickers_created} new tickers)"
        )
