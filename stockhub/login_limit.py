"""A login-attempt limiter for the login pages: after STOCKHUB_LOGIN_MAX_FAILURES failed logins for one
username from one address within STOCKHUB_LOGIN_WINDOW_SECONDS, further attempts get a 429 until the window
ends. Counts live in the shared cache (Redis), so every web process sees them.

Keyed by username + address, so a guesser cannot lock a person out from elsewhere, and one address cannot
guess one account's password faster than MAX_FAILURES per window. (django-axes does this too, but it needs a
request in every authenticate() call, which the test client's login() and scripts don't pass.)
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def limit_login_attempts(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a login view (admin's, or Django's LoginView): a POST answered with the form again (200) is a
    failure, a redirect is a success and clears the count; a POST past the limit never reaches the view."""

    @wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        key, seconds_left = _window_key(request)
        try:
            failures = cache.get(key, 0)
        except RedisError as error:  # fail open: the password check still applies
            logger.warning("login limiter not applied, cache unreachable: %s", error)
            return view(request, *args, **kwargs)
        if failures >= settings.STOCKHUB_LOGIN_MAX_FAILURES:
            return _too_many(request, seconds_left)
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            _count_failure(key, seconds_left)
        elif response.status_code == 302 and failures:
            _forget_failures(key)
        return response

    return limited


def _window_key(request: HttpRequest) -> tuple[str, int]:
    """The cache key of this username + address in the current fixed window, and the seconds it has left."""
    window = settings.STOCKHUB_LOGIN_WINDOW_SECONDS
    now = int(time.time())
    username = request.POST.get("username", "").strip().lower()[:150]
    address = request.META.get("REMOTE_ADDR", "")
    digest = hashlib.sha256(f"{username}\n{address}".encode()).hexdigest()[:32]
    return f"login-failures:{now // window}:{digest}", window - now % window


def _count_failure(key: str, seconds_left: int) -> None:
    try:
        cache.add(key, 0, timeout=seconds_left + 1)
        failures = cache.incr(key)
    except (RedisError, ValueError) as error:  # ValueError: the key expired between add and incr
        logger.warning("login limiter could not count a failure: %s", error)
        return
    if failures == settings.STOCKHUB_LOGIN_MAX_FAILURES:
        # the key's digest correlates log lines without writing usernames into the log
        logger.warning("login attempts limited key=%s for %s s", key, seconds_left)


def _forget_failures(key: str) -> None:
    try:
        cache.delete(key)
    except RedisError as error:
        logger.warning("login limiter could not clear a count: %s", error)


def _too_many(request: HttpRequest, seconds_left: int) -> HttpResponse:
    minutes = max(1, round(seconds_left / 60))
    message = (
        f"Too many failed logins for this username from your address. "
        f"Try again in about {minutes} minute{'s' if minutes != 1 else ''}.\n"
    )
    response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(seconds_left)
    return response
