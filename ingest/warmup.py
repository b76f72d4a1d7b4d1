"""Process start-up of the web server and the workers: warm-up, and the workers' CPU priority.

Warm-up loads, once at process start, what the first login or the first job would otherwise pay for.

Building the exchange calendar and importing pandas-heavy modules costs ~0.5-1 s in a fresh process; a
user's first login after a deploy, or the first foreground job a fresh pool process runs, should not wait
for it.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


def warm_up_web_process() -> None:
    """For the web server: the login hand-off reads the exchange calendar to decide what is stale."""
    from django.utils import timezone

    from ingest.market import is_market_open
    from ingest.selectors import stale_pairs  # noqa: F401  (pandas, the selectors, the job services)
    from ingest.services import refresh  # noqa: F401

    started = time.perf_counter()
    is_market_open(now=timezone.now())  # builds the calendar and its table of minutes
    from celery_app import app

    app.amqp.producer_pool  # noqa: B018  (loads the publishing machinery; connects only when used)
    app.backend  # noqa: B018  (see _open_connections)
    logger.info("web process warmed up in %.2fs", time.perf_counter() - started)


def warm_up_worker_process(**_signal_kwargs) -> None:
    """For each Celery pool process (worker_process_init): the fetch path's modules and the connections (the
    provider's own tables come with the fork: warm_up_worker_main).

    Not the exchange calendar's table of minutes (~25 MB per process): only the web process's stale check
    reads it."""
    from celery_app import app
    from ingest.services import imports  # noqa: F401  (validation, storage, derive)

    started = time.perf_counter()
    app.amqp.producer_pool  # noqa: B018  (a fetch publishes its analysis job)
    _open_connections(app)
    logger.info("worker process warmed up in %.2fs", time.perf_counter() - started)


def warm_up_worker_main(sender=None, instance=None, **_signal_kwargs) -> None:
    """celeryd_after_setup: in a worker that fetches (foreground, background), load the provider's tables in
    the main process, before its pool processes fork: they share them instead of each loading its own in its
    first fetch (the csv provider parses its whole file: ~0.2 s for a year of 60 symbols, seconds for the S&P
    500 file, in front of the first login's jobs). An analysis worker never fetches and loads nothing."""
    from stockhub.queues import Queue

    queue_names = set(instance.app.amqp.queues.consume_from or {})
    if queue_names & {Queue.FOREGROUND, Queue.BACKGROUND}:
        started = time.perf_counter()
        _warm_up_provider()
        logger.info("worker %s: provider warmed up in %.2fs", sender, time.perf_counter() - started)


def _warm_up_provider() -> None:
    """The provider's own warm-up, if it has one; a provider that cannot load now says so in its first fetch."""
    from ingest.providers import get_provider

    try:
        provider = get_provider()
        if hasattr(provider, "warm_up"):
            provider.warm_up()
    except Exception as error:  # noqa: BLE001  (a worker must start even with a misconfigured provider)
        logger.warning("provider warm-up failed (the first fetch will report it): %s", error)


def warm_up_after_fork(**_signal_kwargs) -> None:
    """worker_init (main process): warm up each pool process once it forks, after the fixup's own handler."""
    from celery.signals import worker_process_init

    worker_process_init.connect(warm_up_worker_process, dispatch_uid="ingest.warm_up_worker_process")


def close_old_database_connections(**_signal_kwargs) -> None:
    """task_prerun/task_postrun: Django's request-boundary rule for the database connection, in workers too.

    Celery's Django fixup closes the connection around every task (celery PR #9824) unless
    CELERY_DB_REUSE_MAX is set, which settings.py sets out of reach: then each job's first query would pay a
    new PostgreSQL backend (a fork, then its catalog caches filled again: ~5 ms of a ~30 ms login job,
    measured). Instead, as for a web request, a connection is closed when broken or older than
    CONN_MAX_AGE, and health-checked (CONN_HEALTH_CHECKS) before the next task's first query, so one cut by
    a database restart is replaced rather than failing the task."""
    from django.db import close_old_connections

    close_old_connections()


def _open_connections(app) -> None:
    """The database, Redis (events) and broker connections a job uses, opened now rather than by the first
    job: a fresh pool process's first job otherwise pays ~3 connection set-ups. Best effort: a server that is
    down now is connected to (and reported) by the job that needs it."""
    from django.db import connection

    from stockhub.events import redis_client

    # Celery resolves its result backend on the first send even with results ignored, scanning the installed
    # packages' entry points (~17 ms, measured), and kombu declares a queue on its first publish to it (~10
    # ms): a fresh process's first job paid both.
    app.backend  # noqa: B018
    app.amqp.send_task_message  # noqa: B018  (built on first use, with the task-event dispatcher: ~8 ms)
    try:
        connection.ensure_connection()
        _first_queries()
        redis_client().ping()
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
            for queue in app.amqp.queues.values():  # a job sends to any lane: analysis, its user's next
                producer.maybe_declare(queue)
    except Exception as error:  # noqa: BLE001  (any server down: the first job finds out and says so)
        logger.info("worker process warm-up could not open every connection yet: %s", error)


def _first_queries() -> None:
    """A job's first reads, of nothing: they compile the ORM's queries and fill this connection's catalog
    caches on the server (a fresh PostgreSQL backend reads its tables' definitions on first use)."""
    from ingest.models import Bar
    from ingest.services.jobs import claim_job

    claim_job(job_id=0, token=0)  # no such job: a read, and None
    Bar.objects.filter(ticker_id=0, timeframe="daily").order_by("-ts").values_list("ts", flat=True).first()


def set_worker_cpu_priority(sender=None, instance=None, **_signal_kwargs) -> None:
    """celeryd_after_setup: lower the worker's CPU priority by its queues (stockhub.queues.WORKER_NICENESS),
    before its pool processes fork, so they inherit it."""
    import os

    from stockhub.queues import worker_niceness

    queue_names = list(instance.app.amqp.queues.consume_from or {})
    niceness = worker_niceness(queue_names)
    if niceness:
        os.nice(niceness)
        logger.info("worker %s serves %s: CPU niceness %s", sender, ",".join(queue_names), niceness)
