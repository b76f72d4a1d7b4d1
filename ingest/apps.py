from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Market data ingest"

    def ready(self) -> None:
        post_migrate.connect(_sync_schedules, sender=self, dispatch_uid="ingest.sync_schedules")


def _sync_schedules(sender, **kwargs) -> None:
    from ingest.schedules import sync_schedules

    sync_schedules()
