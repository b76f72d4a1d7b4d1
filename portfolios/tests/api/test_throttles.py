"""Throttles: API requests per user and failed logins per username + address are counted in Redis (shared by
every process) and answered with a clear 429; with Redis unreachable both fail open instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client

from portfolios.tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "pw-for-tests-only"  # factories.make_user's


@pytest.fixture
def dead_cache(settings, tmp_path):
    """Django's cache pointed at a Redis socket nobody listens on."""
    settings.CACHES = {
        "default": {**django_settings.CACHES["default"], "LOCATION": f"unix://{tmp_path}/nobody.sock?db=1"}
    }


def test_the_cache_is_the_redis_at_redis_url_even_in_its_unix_socket_form(settings, shared_cache):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache.set("probe", {"n": 1}, timeout=30)
    assert cache.get("probe") == {"n": 1}
    assert shared_cache.exists("stockhub:1:probe")
    if settings.REDIS_URL.startswith("unix://"):  # the embedded Redis: database 1 over the socket
        assert shared_cache.connection_pool.connection_kwargs["db"] == 1


def test_a_user_over_the_rate_gets_a_429_that_says_when_to_come_back(api, settings):
    settings.STOCKHUB_API_THROTTLE_USER = "3/min"
    assert [api.get("/api/portfolios").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("/api/portfolios")
    assert response.status_code == 429
    assert response.json()["code"] == "THROTTLED"
    assert "Request was throttled. Expected available in" in response.json()["message"]
    assert 0 < int(response["Retry-After"]) <= 60


def test_a_rate_of_zero_refuses_every_request(api, settings):
    settings.STOCKHUB_API_THROTTLE_USER = "0/min"
    response = api.get("/api/portfolios")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 60


def test_one_users_requests_do_not_throttle_another(api, other_api, settings):
    settings.STOCKHUB_API_THROTTLE_USER = "2/min"
    for _ in range(3):
        api.get("/api/portfolios")
    assert other_api.get("/api/portfolios").status_code == 200


def test_the_count_is_shared_with_another_process(api, alice, settings, shared_cache):
    settings.STOCKHUB_API_THROTTLE_USER = "3/min"
    for _ in range(3):
        api.get("/api/portfolios")
    assert shared_cache.exists(f"stockhub:1:throttle_user_{alice.pk}")
    # another web process: same settings and Redis, its own memory
    script = (
        "import django; django.setup()\n"
        "from types import SimpleNamespace\n"
        "from stockhub.throttles import UserThrottle\n"
        f"user = SimpleNamespace(pk={alice.pk}, is_authenticated=True)\n"
        "request = SimpleNamespace(user=user, META={'REMOTE_ADDR': '10.0.0.9'})\n"
        "print(UserThrottle().allow_request(request, None))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stockhub.settings", "REDIS_URL": settings.REDIS_URL,
           "STOCKHUB_API_THROTTLE_USER": "3/min"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr


def test_processes_asking_at_the_same_moment_never_let_more_than_the_rate_through(alice, settings):
    """Counting and adding are one step in Redis: no two web processes both see "one left"."""
    rate, processes, attempts = 15, 4, 12
    script = (
        "import time, django; django.setup()\n"
        "from types import SimpleNamespace\n"
        "from stockhub.throttles import UserThrottle\n"
        f"user = SimpleNamespace(pk={alice.pk}, is_authenticated=True)\n"
        "request = SimpleNamespace(user=user, META={'REMOTE_ADDR': '10.0.0.9'})\n"
        "UserThrottle().get_cache_key(request, None)\n"  # imports done before the common start
        f"time.sleep(max(0.0, {time.time() + 4} - time.time()))\n"
        f"print(sum(UserThrottle().allow_request(request, None) for _ in range({attempts})))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stockhub.settings", "REDIS_URL": settings.REDIS_URL,
           "STOCKHUB_API_THROTTLE_USER": f"{rate}/min"}  # fmt: skip
    running = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    allowed = [int(process.communicate(timeout=60)[0]) for process in running]
    assert sum(allowed) == rate, allowed


def test_with_redis_unreachable_the_api_answers_unthrottled(api, settings, dead_cache, caplog):
    settings.STOCKHUB_API_THROTTLE_USER = "1/min"
    assert [api.get("/api/portfolios").status_code for _ in range(3)] == [200, 200, 200]
    assert "throttle user not applied, cache unreachable" in caplog.text


def login(client: Client, username: str, password: str, address: str = "10.1.1.1"):
    return client.post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failed_logins_past_the_limit_get_a_429_even_with_the_right_password(settings):
    settings.STOCKHUB_LOGIN_MAX_FAILURES = 3
    make_user("root", staff=True)
    client = Client()
    assert [login(client, "root", "guess").status_code for _ in range(3)] == [200, 200, 200]
    refused = login(client, "root", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed logins for this username from your address" in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= settings.STOCKHUB_LOGIN_WINDOW_SECONDS
    assert "_auth_user_id" not in client.session


def test_the_limit_is_per_username_and_address(settings):
    settings.STOCKHUB_LOGIN_MAX_FAILURES = 2
    make_user("root", staff=True)
    make_user("ops", staff=True)
    for _ in range(2):
        login(Client(), "root", "guess")
    assert login(Client(), "ROOT ", "guess").status_code == 429  # the same username, however it is typed
    assert login(Client(), "ops", PASSWORD).status_code == 302  # another account from the same address
    assert login(Client(), "root", PASSWORD, address="10.2.2.2").status_code == 302  # root from elsewhere


def test_a_successful_login_is_not_counted_and_clears_the_failures(settings):
    settings.STOCKHUB_LOGIN_MAX_FAILURES = 2
    make_user("root", staff=True)
    for _ in range(3):
        assert login(Client(), "root", PASSWORD).status_code == 302
    assert login(Client(), "root", "guess").status_code == 200
    assert login(Client(), "root", PASSWORD).status_code == 302
    assert [login(Client(), "root", "guess").status_code for _ in range(3)] == [200, 200, 429]


def test_with_redis_unreachable_logins_still_work(settings, dead_cache, caplog):
    settings.STOCKHUB_LOGIN_MAX_FAILURES = 1
    make_user("root", staff=True)
    assert [login(Client(), "root", "guess").status_code for _ in range(3)] == [200, 200, 200]
    assert login(Client(), "root", PASSWORD).status_code == 302
    assert "login limiter not applied, cache unreachable" in caplog.text
