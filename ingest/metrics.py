"""What GET /metrics shows: Prometheus metric families read from the job rows, the bars and the broker at
scrape time, so the numbers are right however many worker processes there are (no shared metrics files).

One small function per family, each listed in FAMILIES; a new family is one more function and one more line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ingest.broker import queue_depths
from ingest.models import (
    ACTIVE_JOB_STATUSES,
    ACTIVE_RUN_STATUSES,
    Bar,
    FetchJob,
    JobStatus,
    PipelineRun,
    SymbolRunStatus,
    SymbolStatus,
)
from ingest.run_progress import run_progress
from stockhub.queues import Queue

# Upper bounds in seconds. Waiting runs from a login's sub-second start to an hour-long backlog; running
# from a 50 ms incremental fetch to a provider timeout or a full-history analysis.
WAIT_BUCKETS_SECONDS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Job timings are taken over the jobs finished this recently, the errors over the jobs failed this recently.
TIMINGS_WINDOW = timedelta(hours=1)
ERRORS_WINDOW = timedelta(hours=24)


def job_counts(now: datetime) -> Iterator[Metric]:
    jobs = GaugeMetricFamily(
        "stockhub_jobs",
        "Job rows (FetchJob) by queue, status and kind, all time.",
        labels=["queue", "status", "kind"],
    )
    rows = FetchJob.objects.values_list("queue", "status", "kind").annotate(n=Count("id")).order_by()
    for queue, status, kind, count in rows:
        jobs.add_metric([queue, status, kind], count)
    yield jobs


def job_timings(now: datetime) -> Iterator[Metric]:
    recent = FetchJob.objects.filter(finished_at__gte=now - TIMINGS_WINDOW, started_at__isnull=False)
    waits: dict[str, list[float]] = defaultdict(list)
    runs: dict[str, list[float]] = defaultdict(list)
    for queue, created, started, finished in recent.values_list(
        "queue", "created_at", "started_at", "finished_at"
    ):
        waits[queue].append((started - created).total_seconds())
        runs[queue].append((finished - started).total_seconds())
    yield _histogram(
        "stockhub_job_wait_seconds",
        "Seconds from a job's creation to its last start (retry backoff included), over the jobs finished "
        "in the last hour: a sliding window, so read the buckets directly rather than through rate().",
        WAIT_BUCKETS_SECONDS,
        waits,
    )
    yield _histogram(
        "stockhub_job_run_seconds",
        "Seconds from a job's last start to its end, over the jobs finished in the last hour: a sliding "
        "window, so read the buckets directly rather than through rate().",
        RUN_BUCKETS_SECONDS,
        runs,
    )


def _histogram(
    name: str, documentation: str, bounds: tuple[float, ...], values_by_queue: dict[str, list[float]]
) -> HistogramMetricFamily:
    histogram = HistogramMetricFamily(name, documentation, labels=["queue"])
    for queue in Queue:  # every queue, so an idle one reads 0 rather than vanishing
        values = values_by_queue.get(str(queue), [])
        buckets = [(str(bound), sum(1 for v in values if v <= bound)) for bound in bounds]
        histogram.add_metric([str(queue)], buckets + [("+Inf", len(values))], sum_value=sum(values))
    return histogram


def broker_state(now: datetime) -> Iterator[Metric]:
    depths = queue_depths()
    up = GaugeMetricFamily("stockhub_broker_up", "1 when the broker answered this scrape, else 0.")
    up.add_metric([], 0 if depths is None else 1)
    yield up
    depth = GaugeMetricFamily(
        "stockhub_queue_depth",
        "Messages waiting in the broker, by queue (absent while the broker is unreachable).",
        labels=["queue"],
    )
    for queue, count in (depths or {}).items():
        depth.add_metric([queue], count)
    yield depth


def job_errors(now: datetime) -> Iterator[Metric]:
    failed = GaugeMetricFamily(
        "stockhub_jobs_failed_last_24h",
        "Jobs that ended failed in the last 24 hours, by queue and error code (provider codes such as "
        "API_RATE_LIMIT or SYMBOL_NOT_FOUND, and WORKER_LOST, STORAGE_FAILED, INTERNAL_ERROR).",
        labels=["queue", "code"],
    )
    rows = (
        FetchJob.objects.filter(status=JobStatus.FAILED, finished_at__gte=now - ERRORS_WINDOW)
        .values_list("queue", "error_code")
        .annotate(n=Count("id"))
        .order_by()
    )
    for queue, code, count in rows:
        failed.add_metric([queue, code], count)
    yield failed
    retrying = GaugeMetricFamily(
        "stockhub_jobs_retrying",
        "Jobs now waiting for or running a retry, by queue and the error code of their last failed attempt.",
        labels=["queue", "code"],
    )
    rows = (
        FetchJob.objects.filter(status__in=ACTIVE_JOB_STATUSES)
        .exclude(error_code="")
        .values_list("queue", "error_code")
        .annotate(n=Count("id"))
        .order_by()
    )
    for queue, code, count in rows:
        retrying.add_metric([queue, code], count)
    yield retrying


def bars_stored(now: datetime) -> Iterator[Metric]:
    # An exact count: ~40 ms for 600k bars on PostgreSQL (a parallel sequential scan); at tens of millions
    # of rows switch to an estimate from pg_class.reltuples and pg_stats.
    bars = GaugeMetricFamily("stockhub_bars_stored", "Bars stored, by timeframe.", labels=["timeframe"])
    for timeframe, count in Bar.objects.values_list("timeframe").annotate(n=Count("id")).order_by():
        bars.add_metric([timeframe], count)
    yield bars


def pipeline_progress(now: datetime) -> Iterator[Metric]:
    """The runs an operator watches: every active one (pending, running or paused) and the latest finished
    one, so a run's 100 % stays visible after it ends until the next run finishes."""
    runs = list(PipelineRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).select_related("universe"))
    latest_finished = (
        PipelineRun.objects.exclude(status__in=ACTIVE_RUN_STATUSES)
        .filter(finished_at__isnull=False)
        .select_related("universe")
        .order_by("-finished_at", "-id")
        .first()
    )
    if latest_finished is not None:
        runs.append(latest_finished)
    percent = GaugeMetricFamily(
        "stockhub_pipeline_run_percent",
        "How far a pipeline run is, 0..100 over every symbol and phase (a failed symbol counts as done), "
        "for the active runs and the latest finished one; phase is the run's current phase.",
        labels=["run_id", "universe", "timeframe", "phase"],
    )
    for run in runs:
        progress = run_progress(run=run, now=now)
        percent.add_metric(
            [str(progress.run_id), progress.universe, progress.timeframe, progress.phase], progress.percent
        )
    yield percent
    symbols = GaugeMetricFamily(
        "stockhub_pipeline_symbols",
        "A pipeline run's symbols by status (every status listed, 0 included), for the same runs.",
        labels=["run_id", "status"],
    )
    counts = dict(
        ((run_id, status), n)
        for run_id, status, n in SymbolRunStatus.objects.filter(run__in=[run.id for run in runs])
        .values_list("run_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for run in runs:
        for status in SymbolStatus:
            symbols.add_metric([str(run.id), str(status)], counts.get((run.id, status), 0))
    yield symbols


# Each family: a function of the scrape time yielding metric families. Add new ones here.
FAMILIES: tuple[Callable[[datetime], Iterable[Metric]], ...] = (
    job_counts,
    job_timings,
    broker_state,
    job_errors,
    bars_stored,
    pipeline_progress,
)


class StockHubCollector(Collector):
    """Reads every family in FAMILIES at each scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        for family in FAMILIES:
            yield from family(now)


def metrics_registry() -> CollectorRegistry:
    """A registry holding only StockHub's collector (no per-process metrics of the web process)."""
    registry = CollectorRegistry()
    registry.register(StockHubCollector())
    return registry
