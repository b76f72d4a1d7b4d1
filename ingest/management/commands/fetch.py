"""`manage.py fetch SYMBOL...`: fetch bars through a provider and store them (directly, in this process)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ingest.models import Ticker, Timeframe, normalize_symbol, validate_symbol
from ingest.services import fetch_and_store
from stockhub.config import PROVIDERS
from stockhub.errors import ErrorCode, StockHubError

# How far back a first fetch reaches when --start is not given, per timeframe.
DEFAULT_LOOKBACK_DAYS = {"hourly": 90, "daily": 365, "weekly": 730, "monthly": 1825}


def _date(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError as error:
        raise CommandError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2024-01-31") from error
    return day.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Fetch bars for symbols from a provider and store them (synchronously)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbols", nargs="+", help="e.g. AAPL MSFT BRK.B")
        parser.add_argument("--timeframe", choices=Timeframe.values, default=Timeframe.DAILY)
        parser.add_argument("--start", type=_date, help="YYYY-MM-DD (default: a lookback per timeframe)")
        parser.add_argument("--end", type=_date, help="YYYY-MM-DD (default: now)")
        parser.add_argument("--provider", choices=PROVIDERS, help="default: STOCKHUB_PROVIDER")

    def handle(self, *args, **options) -> None:
        timeframe = options["timeframe"]
        end = options["end"] or timezone.now()
        start = options["start"] or end - timedelta(days=DEFAULT_LOOKBACK_DAYS[timeframe])
        if start > end:
            raise CommandError(f"--start {start:%Y-%m-%d} is after --end {end:%Y-%m-%d}")
        symbols = [normalize_symbol(s) for s in options["symbols"]]
        for symbol in symbols:
            try:
                validate_symbol(symbol)
            except ValidationError as error:
                raise CommandError(error.messages[0]) from error
        failures = 0
        for symbol in symbols:
            ticker, created = Ticker.objects.get_or_create(symbol=symbol)
            try:
                result = fetch_and_store(
                    ticker=ticker, timeframe=timeframe, start=start, end=end, provider_name=options["provider"]
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
