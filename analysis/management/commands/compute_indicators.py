"""`manage.py compute_indicators [SYMBOL ...|--universe NAME]`: compute indicators (and patterns) of stored
bars, incrementally unless --full, with a progress line."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.services import analyze_tickers
from ingest.models import Ticker, Timeframe, Universe, normalize_symbol
from stockhub.errors import StockHubError


class Command(BaseCommand):
    help = (
        "Compute and store indicators and pattern events of stored bars: every active ticker, the given symbols, "
        "or a universe's members. Only new bars are processed unless --full; running it twice changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbols", nargs="*", help="e.g. AAPL MSFT (default: every active ticker)")
        parser.add_argument("--universe", help="a universe slug, e.g. sp500")
        parser.add_argument("--timeframe", choices=Timeframe.values, default=Timeframe.DAILY)
        parser.add_argument("--full", action="store_true", help="recompute every bar, not only new ones")
        parser.add_argument(
            "--no-patterns", action="store_true", help="indicators only, no pattern detection"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="database connections working at once (PostgreSQL; default 2)",
        )
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    def handle(self, *args, **options) -> None:
        ticker_ids = self._ticker_ids(options["symbols"], options["universe"])
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            self.stderr.write(f"{done:>6,}/{total:,}  {100 * done / total:5.1f}%  {rate:7.1f} symbols/s")

        try:
            result = analyze_tickers(
                ticker_ids=ticker_ids,
                timeframe=options["timeframe"],
                full=options["full"],
                patterns=not options["no_patterns"],
                workers=options["workers"],
                on_progress=None if options["json"] else progress,
            )
        except StockHubError as error:
            raise CommandError(str(error)) from error
        summary = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        rows, events = summary["rows"], summary["events"]
        self.stdout.write(
            f"tickers         {summary['tickers']:>10,} ({summary['tickers_full']:,} recomputed in full)"
        )
        self.stdout.write(f"bars read       {summary['bars_read']:>10,}")
        self.stdout.write(
            f"indicator rows  {rows['new']:>10,} new, {rows['updated']:,} updated, {rows['unchanged']:,} unchanged"
        )
        if not options["no_patterns"]:
            self.stdout.write(
                f"pattern events  {events['new']:>10,} new, {events['updated']:,} updated, "
                f"{summary['events_removed']:,} removed; {summary['published']:,} published"
            )
        self.stdout.write(f"seconds         {summary['seconds']:>10.2f}")

    def _ticker_ids(self, symbols: list[str], universe: str | None) -> list[int]:
        if symbols and universe:
            raise CommandError("give symbols or --universe, not both")
        if universe:
            found = Universe.objects.filter(slug=universe).first()
            if found is None:
                known = ", ".join(Universe.objects.values_list("slug", flat=True)) or "none yet"
                raise CommandError(f"unknown universe {universe!r}; known: {known}")
            return list(found.members.order_by("symbol").values_list("id", flat=True))
        if symbols:
            wanted = [normalize_symbol(s) for s in symbols]
            ids = dict(Ticker.objects.filter(symbol__in=wanted).values_list("symbol", "id"))
            unknown = [s for s in wanted if s not in ids]
            if unknown:
                raise CommandError(f"unknown symbol(s): {', '.join(unknown)} (import their bars first)")
            return [ids[s] for s in wanted]
        return list(Ticker.objects.filter(active=True).order_by("symbol").values_list("id", flat=True))
