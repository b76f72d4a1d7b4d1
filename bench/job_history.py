"""Freshness reads over a long job history: a login's stale check (`stale_pairs`) and the dashboard's ticker
states (`ticker_states`) for a portfolio of 50 tickers, each with a year of jobs behind it, with the index
`fetchjob_ticker_latest` and, in the same run, without it. Writes its section of docs/BENCHMARKS.md.

    .venv/bin/python bench/job_history.py [--tickers 50] [--jobs-per-ticker 2000] [--repeats 30]
        [--database-url postgres://postgres@127.0.0.1:5432/stockhub_bench_jobs]

The database is dropped and re-created. Nothing prunes finished jobs, so every ticker's history only grows:
a scheduled fetch and its analysis each day, plus the fetches its holders' logins ask for. 2,000 jobs per
ticker is about a year of that. Both reads are timed in one process, median of `--repeats`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import fresh_database, median, run_child, write_section  # noqa: E402

INDEX = "fetchjob_ticker_latest"
GOAL_MS = 10  # a login's stale check and a dashboard's states: a small part of a request


def child(tickers: int, jobs_per_ticker: int, repeats: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from ingest.models import FetchJob, JobKind, JobStatus, Ticker
    from ingest.selectors import stale_pairs, ticker_states

    now = timezone.now()
    made = Ticker.objects.bulk_create([Ticker(symbol=f"JH{i:04d}") for i in range(tickers)])
    for ticker in made:  # every fourth hour: fetches and analyses in turn, newest first
        FetchJob.objects.bulk_create(
            [
                FetchJob(
                    ticker=ticker,
                    timeframe="daily",
                    reason="scheduled",
                    priority=5,
                    queue="background",
                    kind=JobKind.FETCH_BARS if k % 2 else JobKind.COMPUTE_INDICATORS,
                    status=JobStatus.SUCCEEDED,
                    finished_at=now - timedelta(hours=4 * k),
                )
                for k in range(jobs_per_ticker)
            ],
            batch_size=5000,
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ingest_fetchjob")
    ids = [ticker.id for ticker in made]
    reads = {
        "stale_pairs": lambda: stale_pairs(ticker_ids=ids, timeframes=["daily"], now=now),
        "ticker_states": lambda: ticker_states(ticker_ids=ids, timeframe="daily", now=now),
    }
    figures = {}
    for indexed in (True, False):
        if not indexed:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX {INDEX}")
                cursor.execute("ANALYZE ingest_fetchjob")
        for name, read in reads.items():
            read()  # the plan cached, the pages read once
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                read()
                times.append((time.perf_counter() - started) * 1000)
            figures[f"{name}_{'indexed' if indexed else 'unindexed'}"] = median(times)
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickers", type=int, default=50)
    parser.add_argument("--jobs-per-ticker", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/stockhub_bench_jobs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.tickers, args.jobs_per_ticker, args.repeats)
        return
    fresh_database(args.database_url)
    sizes = ["--tickers", str(args.tickers), "--jobs-per-ticker", str(args.jobs_per_ticker)]
    figures = run_child(__file__, [*sizes, "--repeats", str(args.repeats)], args.database_url)

    def row(read: str, what: str) -> str:
        ours, without = figures[f"{read}_indexed"], figures[f"{read}_unindexed"]
        ok = "✅" if ours <= GOAL_MS else "❌"
        return f"| {what} | {ours:.1f} ms | {without:.1f} ms | {without / ours:.0f}× | ≤ {GOAL_MS} ms {ok} |"

    body = "\n".join(
        [
            "## Freshness reads over a long job history (`bench/job_history.py`)",
            "",
            f"{args.tickers} tickers, each with {args.jobs_per_ticker:,} finished jobs "
            "(fetches and analyses every fourth hour, about a year of a held ticker's history; nothing prunes "
            f"them). Median of {args.repeats} reads in one process; the baseline drops the index "
            f"`{INDEX}` (ticker, timeframe, newest finished first) in the same run.",
            "",
            "| read | with the index | without | ratio | goal |",
            "|---|---:|---:|---:|---|",
            row("stale_pairs", "a login's stale check (`stale_pairs`)"),
            row("ticker_states", "the dashboard's ticker states (`ticker_states`)"),
            "",
            "Both read, per ticker, its newest successful fetch and (the dashboard) its newest ended job. Without "
            "the index PostgreSQL finds them through the ticker's foreign-key index and reads every job the ticker "
            "ever had; with it, it walks the newest few.",
        ]
    )
    write_section("job_history", body)
    print(body)


if __name__ == "__main__":
    main()
