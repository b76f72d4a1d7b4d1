import warnings

import pandas as pd
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
        post_migrate.connect(_sync_schedules, sender=self, dispatch_uid="ingest.sync_schedules")


def _sync_schedules(sender, **kwargs) -> None:
    from ingest.schedules import sync_schedules

    sync_schedules()
