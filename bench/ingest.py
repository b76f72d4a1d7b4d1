"""Bulk import benchmark: the S&P 500 five-year file into PostgreSQL, cold and again (all conflicts),
next to a naive Django bulk_create baseline measured in the same run. Writes docs/BENCHMARKS.md.

    .venv/bin/python bench/ingest.py [--runs 3] [--database-url postgres://postgres@127.0.0.1:5432/stockhub_bench]

Each measurement runs in a fresh child process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import ROOT, fresh_database, median, run_child, write_section  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "daily" / "sp500_all_stocks_5yr.csv.gz"
GOALS = {"cold": 15.0, "again": 10.0, "rss_mb": 500}
NAIVE_BATCH_ROWS = 5_000


def child(mode: str) -> None:
    """One measurement inside a fresh process: prints {"seconds", "rows", "rss_mb", ...} as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
    import django

    django.setup()
    started = time.perf_counter()
    if mode == "stockhub":
        from ingest.services import import_bars_file

        result = import_bars_file(path=DATA, timeframe="daily").as_dict()
    else:
        result = _naive_import(update=(mode == "naive-again"))
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "result": result}))


def _naive_import(*, update: bool) -> dict:
    """What a first version would do: pandas read, then Django bulk_create per batch of model instances."""
    import pandas as pd

    from ingest.models import Bar, Ticker

    frame = pd.read_csv(DATA).dropna()
    ids = {}
    for symbol in frame["Name"].unique():
        ids[symbol] = Ticker.objects.get_or_create(symbol=symbol)[0].id
    rows = 0
    for start in range(0, len(frame), NAIVE_BATCH_ROWS):
        batch = frame.iloc[start : start + NAIVE_BATCH_ROWS]
        bars = [
            Bar(
                ticker_id=ids[r.Name],
                timeframe="daily",
                ts=pd.Timestamp(r.date, tz="UTC").to_pydatetime(),
                open=r.open,
                high=r.high,
                low=r.low,
                close=r.close,
                volume=int(r.volume),
                source="naive",
            )
            for r in batch.itertuples(index=False)
            if r.high >= r.low and r.low > 0
        ]
        kwargs = (
            {
                "update_conflicts": True,
                "unique_fields": ["ticker", "timeframe", "ts"],
                "update_fields": ["open", "high", "low", "close", "volume"],
            }
            if update
            else {}
        )
        Bar.objects.bulk_create(bars, **kwargs)
        rows += len(bars)
    return {"rows": rows}


def measure(mode: str, database_url: str) -> dict:
    return run_child(__file__, [mode], database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/stockhub_bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return
    runs: dict[str, list[dict]] = {"cold": [], "again": [], "naive-cold": [], "naive-again": []}
    for run in range(args.runs):
        fresh_database(args.database_url)
        runs["cold"].append(measure("stockhub", args.database_url))
        runs["again"].append(measure("stockhub", args.database_url))
        fresh_database(args.database_url)
        runs["naive-cold"].append(measure("naive-cold", args.database_url))
        runs["naive-again"].append(measure("naive-again", args.database_url))
        print(
            f"run {run + 1}: " + ", ".join(f"{k} {v[-1]['seconds']:.1f}s" for k, v in runs.items()),
            flush=True,
        )
    write_section("ingest", report(runs))


def report(runs: dict[str, list[dict]]) -> str:
    rows = runs["cold"][0]["result"]["rows_read"]
    stored = runs["cold"][0]["result"]["stored"]["new"]
    sec = {k: median([r["seconds"] for r in v]) for k, v in runs.items()}
    rss = {k: max(r["rss_mb"] for r in v) for k, v in runs.items()}
    derived = runs["cold"][0]["result"]["derived"]
    lines = [
        "## Bulk import (`bench/ingest.py`)",
        "",
        f"`import_csv` of `sp500_all_stocks_5yr.csv.gz` ({rows:,} rows, {stored:,} valid bars, 505 symbols) into "
        f"PostgreSQL, including validation and deriving {derived['weekly']['new']:,} weekly and "
        f"{derived['monthly']['new']:,} monthly bars. Median of {len(runs['cold'])} runs, each on a fresh database.",
        "",
        "| import | StockHub | rows/s | peak RSS | goal | naive `bulk_create` | ratio |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for key, goal in (("cold", GOALS["cold"]), ("again", GOALS["again"])):
        naive = sec[f"naive-{key}"]
        label = "cold (empty table)" if key == "cold" else "again (every row a conflict)"
        lines.append(
            f"| {label} | {sec[key]:.1f} s | {rows / sec[key]:,.0f} | {rss[key]:.0f} MB | ≤ {goal:.0f} s, "
            f"≤ {GOALS['rss_mb']} MB {'✅' if sec[key] <= goal and rss[key] <= GOALS['rss_mb'] else '❌'} | "
            f"{naive:.1f} s ({rss[f'naive-{key}']:.0f} MB) | {naive / sec[key]:.1f}× faster |"
        )
    lines += [
        "",
        "The naive baseline skips validation and derivation, so the ratio understates the difference.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
