"""What every chaos scenario checks once the dust settles: every job ended as it should, no bar missing or
duplicated versus the source file, no run stuck, no job run twice; and the figures for docs/RELIABILITY.md."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
from django.test import override_settings

from analysis.models import IndicatorRow
from ingest.models import Bar, FetchJob, JobStatus, PipelineRun, RunStatus, SymbolRunStatus, SymbolStatus
from ingest.providers.aggregate import period_start
from ingest.services.reconcile import reconcile_jobs, reconcile_runs
from ingest.services.universes import Member, load_universe
from tests.chaos.conftest import Market, Stack

UNIVERSE = "chaos"
# The reconciler re-sends a job whose message went out this long ago when its queue is empty (production:
# 120 s, beat every minute); short here so a lost message costs a scenario seconds, not minutes.
REPUBLISH_AFTER_SECONDS = 4


def worker_env(market: Market, *, faults: str = "", **extra: str) -> dict[str, str]:
    return {
        "STOCKHUB_PROVIDER": "csv",
        "STOCKHUB_CSV_PATH": str(market.path),
        "STOCKHUB_LOOKBACK_DAYS_DAILY": "5000",  # the file ends in 2018
        "STOCKHUB_PROVIDER_FAULTS": faults,
        "STOCKHUB_RETRY_BASE_SECONDS": "0.1",
        "STOCKHUB_RETRY_MAX_SECONDS": "0.5",
        "STOCKHUB_JOB_MAX_ATTEMPTS": "5",
        # A job or batch held by a worker that cannot write its outcome comes back this soon (production 360 s).
        "STOCKHUB_JOB_LEASE_SECONDS": "20",
        "STOCKHUB_LOG_FORMAT": "json",
        **extra,
    }


def make_universe(symbols: list[str]) -> str:
    load_universe(slug=UNIVERSE, members=[Member(symbol) for symbol in symbols])
    return UNIVERSE


class Reconciler:
    """What beat does every minute (reconcile_jobs + reconcile_runs), here at most once a second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self) -> None:
        if time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        with override_settings(STOCKHUB_REPUBLISH_AFTER_SECONDS=REPUBLISH_AFTER_SECONDS):
            reconcile_jobs()
            reconcile_runs()


def run_ended(run_id: int) -> bool:
    return PipelineRun.objects.get(id=run_id).status not in (RunStatus.PENDING, RunStatus.RUNNING)


def jobs_ended(job_ids: list[int] | None = None) -> bool:
    jobs = FetchJob.objects.all() if job_ids is None else FetchJob.objects.filter(id__in=job_ids)
    return not jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()


@dataclass
class Audit:
    """jobs: fetch jobs + analysis (symbol, phase) steps. lost: work that did not end as it should, or a bar
    missing. duplicated: a job that ran to completion twice, or a bar too many."""

    jobs: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    def lose(self, count: int, what: str) -> None:
        if count:
            self.lost += count
            self.problems.append(f"lost {count}: {what}")

    def duplicate(self, count: int, what: str) -> None:
        if count:
            self.duplicated += count
            self.problems.append(f"duplicated {count}: {what}")


def audit(
    *,
    stack: Stack,
    market: Market,
    symbols: list[str],
    run_id: int | None = None,
    expected_failures: dict[str, str] | None = None,
) -> Audit:
    """Check every job, every run symbol and every stored bar of `symbols` against the source file."""
    expected_failures = expected_failures or {}
    result = Audit()
    _audit_jobs(result, expected_failures)
    if run_id is not None:
        _audit_run(result, run_id, expected_failures)
    analysed = run_id is not None and "indicators" in PipelineRun.objects.get(id=run_id).phases
    _audit_bars(result, market, [s for s in symbols if s not in expected_failures], with_analysis=analysed)
    _audit_executions(result, stack)
    return result


def _audit_jobs(result: Audit, expected_failures: dict[str, str]) -> None:
    jobs = list(FetchJob.objects.values_list("id", "ticker__symbol", "status", "error_code"))
    result.jobs += len(jobs)
    open_jobs = [job_id for job_id, _, status, _ in jobs if status in (JobStatus.QUEUED, JobStatus.RUNNING)]
    result.lose(len(open_jobs), f"jobs never ended {open_jobs}")
    wrong = [
        (job_id, symbol, status, code)
        for job_id, symbol, status, code in jobs
        if status not in (JobStatus.QUEUED, JobStatus.RUNNING)
        and (status, code) != _expected_job_end(symbol, expected_failures)
    ]
    result.lose(len(wrong), f"jobs ended wrongly (id, symbol, status, code) {wrong}")


def _expected_job_end(symbol: str, expected_failures: dict[str, str]) -> tuple[str, str]:
    if symbol in expected_failures:
        return JobStatus.FAILED, expected_failures[symbol]
    return JobStatus.SUCCEEDED, ""


def _audit_run(result: Audit, run_id: int, expected_failures: dict[str, str]) -> None:
    run = PipelineRun.objects.get(id=run_id)
    if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
        result.lose(1, f"run {run_id} stuck in {run.status} at phase {run.current_phase}")
    expected_status = RunStatus.COMPLETED_WITH_ERRORS if expected_failures else RunStatus.COMPLETED
    if run.status != expected_status:
        result.problems.append(f"run {run_id} ended {run.status}, expected {expected_status}")
    rows = list(SymbolRunStatus.objects.filter(run=run).values_list("ticker__symbol", "status", "error_code"))
    result.jobs += len(rows) * (len(run.phases) - 1)  # each symbol's analysis steps
    wrong = [
        (symbol, status, code)
        for symbol, status, code in rows
        if (status, code)
        != (
            (SymbolStatus.FAILED, expected_failures[symbol])
            if symbol in expected_failures
            else (SymbolStatus.DONE, "")
        )
    ]
    result.lose(len(wrong), f"run symbols not done (symbol, status, code) {wrong}")


def _audit_bars(result: Audit, market: Market, symbols: list[str], *, with_analysis: bool) -> None:
    """Daily bars equal the file's rows; weekly and monthly bars cover every period and add up to the same
    volume (a half-derived symbol would not); with a run, one indicator row per bar."""
    source = market.frame[market.frame["symbol"].isin(symbols)].copy()
    source["ts"] = pd.to_datetime(source["date"], utc=True)
    stored = pd.DataFrame(
        Bar.objects.filter(ticker__symbol__in=symbols).values_list("ticker__symbol", "timeframe", "volume"),
        columns=["symbol", "timeframe", "volume"],
    )
    for symbol, bars in source.groupby("symbol"):
        mine = stored[stored["symbol"] == symbol]
        expected = {
            "daily": len(bars),
            "weekly": period_start(bars["ts"], "weekly").nunique(),
            "monthly": period_start(bars["ts"], "monthly").nunique(),
        }
        for timeframe, want in expected.items():
            got = mine[mine["timeframe"] == timeframe]
            result.lose(max(0, want - len(got)), f"{symbol} {timeframe} bars ({len(got)} of {want})")
            result.duplicate(max(0, len(got) - want), f"{symbol} {timeframe} bars ({len(got)} of {want})")
            if len(got) == want and int(got["volume"].sum()) != int(bars["volume"].sum()):
                result.lose(1, f"{symbol} {timeframe} bars do not add up to the file's volume")
    if with_analysis:
        indicators = Counter(
            IndicatorRow.objects.filter(ticker__symbol__in=symbols).values_list("ticker__symbol", "timeframe")
        )
        bars = Counter(stored[["symbol", "timeframe"]].itertuples(index=False, name=None))
        missing = {
            key: (indicators.get(key, 0), count)
            for key, count in bars.items()
            if indicators.get(key, 0) != count
        }
        result.lose(len(missing), f"(symbol, timeframe) without one indicator row per bar {missing}")


def _audit_executions(result: Audit, stack: Stack) -> None:
    """A job that ran to completion more than once would log "succeeded" more than once."""
    finished = Counter(
        line.get("job_id")
        for line in stack.worker_logs()
        if line.get("logger") == "ingest.services.jobs" and " succeeded: " in line["message"]
    )
    twice = {job_id: n for job_id, n in finished.items() if job_id is not None and n > 1}
    result.duplicate(sum(n - 1 for n in twice.values()), f"jobs that ran to completion twice {twice}")
