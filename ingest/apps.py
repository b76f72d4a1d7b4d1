import warnings

import pandas as pd
from celery.signals import celeryd_after_setup, task_postrun, task_prerun, worker_init, worker_ready
from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Market data ingest"

    def ready(self) -> None:
        # exchange_calendars 4.13 reads Series.values / DatetimeIndex.values, which pandas 3.1 deprecates; the
        # tz-naive UTC values it gets are what it wants, so the warning would only fill every worker's log.
        warnings.filterwarnings(
            "ignore", r"(Series|DatetimeIndex)\.values returning", category=pd.errors.Pandas4Warning
        )
        from ingest.warmup import (
            close_old_database_connections,
            set_worker_cpu_priority,
            warm_up_after_fork,
            warm_up_worker_main,
        )

        post_migrate.connect(_sync_schedules, sender=self, dispatch_uid="ingest.sync_schedules")
        # After Celery's Django fixup has connected its own handlers (on worker_init), so a pool process's
        # warm-up runs after the fixup closes the connections inherited from the parent, not before.
        worker_init.connect(warm_up_after_fork, dispatch_uid="ingest.warm_up_after_fork")
        task_prerun.connect(close_old_database_connections, dispatch_uid="ingest.close_old_db_prerun")
        task_postrun.connect(close_old_database_connections, dispatch_uid="ingest.close_old_db_postrun")
        celeryd_after_setup.connect(set_worker_cpu_priority, dispatch_uid="ingest.set_worker_cpu_priority")
        celeryd_after_setup.connect(warm_up_worker_main, dispatch_uid="ingest.warm_up_worker_main")
        from ingest.worker_control import skip_paused_queues  # also registers the pause/resume commands

        worker_ready.connect(skip_paused_queues, dispatch_uid="ingest.skip_paused_queues")


def _sync_schedules(sender, **kwargs) -> None:
    from ingest.schedules import sync_schedules

    sync_schedules()
