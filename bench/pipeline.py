"""The full pipeline over the S&P 500 file, then the next-day incremental update, with real workers.

    .venv/bin/python bench/pipeline.py [--runs 3]

Real PostgreSQL (a fresh `stockhub_bench_pipeline` database), the machine's Redis (database 4 as broker, 5
for events) and real `celery worker` processes started as the Procfile starts them (background and
analysis, two pool processes each), with the csv provider reading ../shared/data/daily/sp500_all_stocks_5yr.
csv.gz (505 symbols, five years, ~619k bars). Per run:

- full: no bars stored; `run_pipeline` over the 505 symbols, import -> indicators -> patterns, from the
  trigger until the run row says it ended;
- incremental: the same file plus one new session per symbol (the day after its last bar), served to freshly
  started workers; a second run over the 505 symbols stores one new bar each and updates indicators and
  patterns incrementally.

The peak RSS of every worker process (main and pool) is sampled every 0.2 s. The seed system took 25-35
minutes for 500 symbols. Figures go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.login_latency import Workers  # noqa: E402
from bench.report import ROOT, fresh_database, median, write_section  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/stockhub_bench_pipeline"
BROKER_URL = "redis://127.0.0.1:6379/4"
REDIS_URL = "redis://127.0.0.1:6379/5"
SOURCE = ROOT.parent / "shared" / "data" / "daily" / "sp500_all_stocks_5yr.csv.gz"
GOALS = {"full_s": 90.0, "incremental_s": 15.0, "rss_mb": 300.0}
UNIVERSE = "sp500-bench"


def configure(csv_path: Path) -> None:
    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        REDIS_URL=REDIS_URL,
        STOCKHUB_PROVIDER="csv",
        STOCKHUB_CSV_PATH=str(csv_path),
        STOCKHUB_LOOKBACK_DAYS_DAILY="4000",  # the file ends in February 2018
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="stockhub.settings",
    )


def next_day_file(directory: Path) -> Path:
    """The source plus one session per symbol after its last bar (close +1 %, a plausible bar)."""
    import pandas as pd

    frame = pd.read_csv(SOURCE)
    last = frame.sort_values("date").groupby("Name").tail(1).copy()
    last["date"] = (pd.to_datetime(last["date"]) + pd.offsets.BDay(1)).dt.strftime("%Y-%m-%d")
    last["open"], last["close"] = last["close"], last["close"] * 1.01
    last["high"], last["low"] = (
        last[["open", "close"]].max(axis=1) * 1.005,
        last[["open", "close"]].min(axis=1) * 0.995,
    )
    path = directory / "sp500_next_day.csv.gz"
    with gzip.open(path, "wt") as handle:
        pd.concat([frame, last]).to_csv(handle, index=False)
    return path


class RssSampler:
    """Peak RSS per worker process (main and pool processes), sampled in a thread."""

    def __init__(self, processes: dict[str, subprocess.Popen]) -> None:
        self.processes = processes
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for queue, process in self.processes.items():
                try:
                    main = psutil.Process(process.pid)
                    for i, proc in enumerate([main, *main.children(recursive=True)]):
                        key = f"{queue} {'main' if i == 0 else 'pool'}"
                        self.peaks[key] = max(self.peaks.get(key, 0.0), proc.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
            time.sleep(0.2)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def reset() -> None:
    import redis

    from analysis.models import AnalysisState, IndicatorRow, PatternEvent
    from ingest.models import Bar, FetchJob, PipelineRun, SymbolRunStatus

    for model in (PatternEvent, IndicatorRow, AnalysisState, SymbolRunStatus, PipelineRun, FetchJob, Bar):
        model.objects.all()._raw_delete(model.objects.db)
    redis.Redis.from_url(BROKER_URL).flushdb()


def measure(csv_path: Path) -> dict:
    """One run over the universe with freshly started workers reading `csv_path`; seconds and peak RSS."""
    from ingest.models import PipelineRun, RunStatus
    from ingest.services.pipeline import start_pipeline_run

    os.environ["STOCKHUB_CSV_PATH"] = str(csv_path)
    workers = Workers()
    try:
        processes = {queue: workers.start(queue, concurrency=2) for queue in ("background", "analysis")}
        sampler = RssSampler(processes)
        started = time.perf_counter()
        run_id = start_pipeline_run(universe=UNIVERSE, trigger="manual").run_id
        while PipelineRun.objects.get(id=run_id).status in (RunStatus.PENDING, RunStatus.RUNNING):
            if time.perf_counter() - started > 1800:
                raise RuntimeError(f"run {run_id} still running after 30 minutes")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        peaks = sampler.stop()
    finally:
        workers.stop()
    run = PipelineRun.objects.get(id=run_id)
    if run.status != RunStatus.COMPLETED:
        raise RuntimeError(
            f"run {run_id} ended {run.status}: {list(run.symbols.filter(status='failed')[:5])}"
        )
    return {"seconds": seconds, "symbols": run.total_symbols, "peaks": peaks}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not SOURCE.is_file():
        sys.exit(f"bench/pipeline.py needs {SOURCE} (the shared market data)")
    configure(SOURCE)
    fresh_database(DATABASE_URL)
    import django

    django.setup()
    import pandas as pd

    from ingest.services.universes import Member, load_universe

    symbols = sorted(pd.read_csv(SOURCE, usecols=["Name"])["Name"].dropna().unique())
    load_universe(slug=UNIVERSE, members=[Member(symbol) for symbol in symbols])
    with tempfile.TemporaryDirectory() as directory:
        next_day = next_day_file(Path(directory))
        full, incremental = [], []
        for run in range(args.runs):
            reset()
            full.append(measure(SOURCE))
            incremental.append(measure(next_day))
            print(
                f"run {run + 1}: full {full[-1]['seconds']:.1f} s, incremental {incremental[-1]['seconds']:.1f} s",
                flush=True,
            )
    write_section("pipeline", report(full, incremental, args))


def report(full: list[dict], incremental: list[dict], args) -> str:
    full_s = median([r["seconds"] for r in full])
    incremental_s = median([r["seconds"] for r in incremental])
    symbols = full[0]["symbols"]
    peaks: dict[str, float] = {}
    for result in full + incremental:
        for key, value in result["peaks"].items():
            peaks[key] = max(peaks.get(key, 0.0), value)
    worst = max(peaks.values())

    def ok(good: bool) -> str:
        return "✅" if good else "❌"

    rows = "\n".join(f"| {key} | {value:.0f} MB |" for key, value in sorted(peaks.items()))
    return f"""## Pipeline: {symbols} symbols, import -> indicators -> patterns (`bench/pipeline.py`)

Real workers (background and analysis, two pool processes each, as in the Procfile), PostgreSQL, Redis, the
csv provider over `sp500_all_stocks_5yr.csv.gz`. Medians of {args.runs} runs.

| measure | result | goal | |
|---|---|---|---|
| full pipeline, nothing stored before | {full_s:.1f} s ({symbols / full_s * 60:.0f} symbols/min) | ≤ {GOALS["full_s"]:.0f} s | {ok(full_s <= GOALS["full_s"])} |
| next-day update, one new bar per symbol | {incremental_s:.1f} s ({symbols / incremental_s * 60:.0f} symbols/min) | ≤ {GOALS["incremental_s"]:.0f} s | {ok(incremental_s <= GOALS["incremental_s"])} |
| peak RSS of any worker process | {worst:.0f} MB | ≤ {GOALS["rss_mb"]:.0f} MB | {ok(worst <= GOALS["rss_mb"])} |

The seed system took 25–35 minutes for 500 symbols: {25 * 60 / full_s:.0f}–{35 * 60 / full_s:.0f}x slower than the full run here.
Each worker starts fresh for each run, so the times include the csv provider parsing the 619k-row file once
per pool process (~1-2 s), as a worker restart would.

Peak RSS per process:

| process | peak RSS |
|---|---|
{rows}
"""


if __name__ == "__main__":
    main()
