"""API request throttles: per user and per anonymous address, counted in the shared cache (Redis), so every
web process sees the same counts. Rates come from STOCKHUB_API_THROTTLE_USER / STOCKHUB_API_THROTTLE_ANON."""

from __future__ import annotations

import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _FailOpen:
    """With Redis down the API keeps answering unthrottled (logged): the rest of StockHub is built to run
    through a broker outage, and refusing every request would turn a throttle into an outage."""

    setting_name: str

    def get_rate(self) -> str:
        # Read at request time, not import time (DRF's default), so a changed setting applies at once.
        return getattr(settings, self.setting_name)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError as error:
            logger.warning("throttle %s not applied, cache unreachable: %s", self.scope, error)
            return True


class UserThrottle(_FailOpen, UserRateThrottle):
    """Requests per logged-in user (session or token), e.g. 600/min."""

    setting_name = "STOCKHUB_API_THROTTLE_USER"


class AnonThrottle(_FailOpen, AnonRateThrottle):
    """Requests per address without a login, e.g. 60/min (only endpoints open to anonymous users)."""

    setting_name = "STOCKHUB_API_THROTTLE_ANON"
