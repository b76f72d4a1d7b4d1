"""The web process under load keeps no PostgreSQL connection per request: under ASGI each request runs on a
thread of its own, so a connection kept for reuse would never be reused (found by bench/api_load.py, where
PostgreSQL ran out of connections at 200 requests/s)."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from analysis.tests.factories import random_walk, store
from portfolios.services import issue_api_token
from portfolios.tests.factories import make_user
from web.tests.conftest import asgi_server, collected_static  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REQUESTS = 60


def server_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_the_web_process_holds_no_database_connection_after_its_requests(asgi_server):  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("connections are kept for reuse on PostgreSQL only")
    store("AAPL", random_walk(30))
    token = issue_api_token(user=make_user("ann")).key
    before = server_connections()

    def get(_: int) -> int:
        request = urllib.request.Request(
            f"{asgi_server.url}/api/bars/AAPL", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(get, range(REQUESTS))) == {200}
    assert server_connections() <= before
