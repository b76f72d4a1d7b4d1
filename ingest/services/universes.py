"""Universes: named lists of tickers (index constituents shipped with the project, or a user's own list)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from ingest.errors import InvalidInput
from ingest.models import Ticker, Universe, UniverseKind, normalize_symbol, validate_symbol

SHIPPED_UNIVERSES_DIR = Path(__file__).resolve().parent.parent / "universes"
SHIPPED_NAMES = {"dow30": "Dow Jones Industrial Average", "sp500": "S&P 500", "nasdaq100": "Nasdaq-100"}


@dataclass(frozen=True)
class Member:
    symbol: str
    name: str = ""
    sector: str = ""


@dataclass(frozen=True)
class UniverseLoadResult:
    slug: str
    members: int
    tickers_created: int


def read_members_csv(*, path: Path) -> list[Member]:
    """Members from a CSV with a `symbol` column (name and sector optional); a bad symbol names its line."""
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a BOM from Excel is not a header
        reader = csv.DictReader(handle)
        fields = {name.lower(): name for name in reader.fieldnames or []}
        if "symbol" not in fields:
            raise InvalidInput(f"{path}: no 'symbol' column (found: {', '.join(reader.fieldnames or [])})")
        members = []
        for line, row in enumerate(reader, start=2):
            symbol = normalize_symbol(row[fields["symbol"]])
            try:
                validate_symbol(symbol)
            except ValidationError as error:
                raise InvalidInput(f"{path}:{line}: {error.messages[0]}") from error
            members.append(
                Member(
                    symbol,
                    row.get(fields.get("name", ""), "") or "",
                    row.get(fields.get("sector", ""), "") or "",
                )
            )
    return members


def load_universe(
    *, slug: str, members: list[Member], name: str = "", kind: str = UniverseKind.USER
) -> UniverseLoadResult:
    """Create or replace a universe's members; running it twice with the same members changes nothing.

    A symbol listed twice (BRK.B and BRK-B normalise to one) is one member, with its first name and sector.
    """
    members = list({m.symbol: m for m in reversed(members)}.values())[::-1]
    with transaction.atomic():
        universe, _ = Universe.objects.update_or_create(
            slug=slug, defaults={"name": name or SHIPPED_NAMES.get(slug, slug), "kind": kind}
        )
        existing = set(
            Ticker.objects.filter(symbol__in=[m.symbol for m in members]).values_list("symbol", flat=True)
        )
        Ticker.objects.bulk_create(
            [
                Ticker(symbol=m.symbol, name=m.name, sector=m.sector)
                for m in members
                if m.symbol not in existing
            ],
            ignore_conflicts=True,
        )
        universe.members.set(Ticker.objects.filter(symbol__in=[m.symbol for m in members]))
    return UniverseLoadResult(slug=slug, members=len(members), tickers_created=len(members) - len(existing))


def load_shipped_universe(*, slug: str) -> UniverseLoadResult:
    path = SHIPPED_UNIVERSES_DIR / f"{slug}.csv"
    if not path.exists():
        shipped = sorted(p.stem for p in SHIPPED_UNIVERSES_DIR.glob("*.csv"))
        raise InvalidInput(
            f"no shipped universe {slug!r}; shipped: {', '.join(shipped)} (or pass --csv PATH)"
        )
    return load_universe(slug=slug, members=read_members_csv(path=path), kind=UniverseKind.INDEX)
