from django.apps import AppConfig
from django.db.models.signals import post_migrate


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        post_migrate.connect(_sync_schedules, sender=self, dispatch_uid="notifications.sync_schedules")


def _sync_schedules(sender, **kwargs) -> None:
    from notifications.schedules import sync_schedules

    sync_schedules()
