"""Signal receivers: one line each, handing over to a service."""

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver

from portfolios.services import refresh_on_login


@receiver(user_logged_in, dispatch_uid="portfolios.refresh_on_login")
def refresh_portfolios_after_login(sender, request, user, **kwargs) -> None:
    transaction.on_commit(lambda: refresh_on_login(user=user))
