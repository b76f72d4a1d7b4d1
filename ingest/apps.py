import warnings

import pandas as pd
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready
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
        from ingest.warmup import set_worker_cpu_priority, warm_up_worker_process

        post_migrate.connect(_sync_schedules, sender=self, dispatch_uid="ingest.sync_schedules")
        worker_process_init.connect(warm_up_worker_process, dispatch_uid="ingest.warm_up_worker_process")
        celeryd_after_setup.connect(set_worker_cpu_priority, dispatch_uid="ingest.set_worker_cpu_priority")
        from ingest.worker_control import skip_paused_queues  # also registers the pause/resume commands

        worker_ready.connect(skip_paused_queues, dispatch_uid="ingest.skip_paused_queues")


def _sync_schedules(sender, **kwargs) -> None:
    from ingest.schedules import sync_schedules

    sync_schedules()
