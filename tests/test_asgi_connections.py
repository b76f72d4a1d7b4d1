"""The web process's PostgreSQL connections: each of its STOCKHUB_WEB_THREADS threads keeps one and reuses it,
so however many requests come at once the process holds at most that many (bench/api_load.py once ran
PostgreSQL out of connections at 200 requests/s), and an open event stream holds none."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from analysis.tests.factories import random_walk, store
from ingest.tests.test_queue_workers import wait_until
from portfolios.services import issue_api_token
from portfolios.tests.factories import make_user
from web.tests.conftest import asgi_server, collected_static  # noqa: F401 (fixtures)
from web.tests.test_sse import EventStream, hello, session_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REQUESTS = 60
THREADS = 3
CLIENTS = 8  # more clients at once than the server has threads


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    if connection.vendor != "postgresql":
        pytest.skip("connections are kept for reuse on PostgreSQL only")
    monkeypatch.setenv("STOCKHUB_WEB_THREADS", str(THREADS))
    return request.getfixturevalue("asgi_server")


def server_backends() -> set[int]:
    """Backend pids on the test database other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_the_web_threads_keep_and_reuse_at_most_one_connection_each(server):
    store("AAPL", random_walk(30))
    token = issue_api_token(user=make_user("ann")).key

    def get(_: int) -> int:
        request = urllib.request.Request(
            f"{server.url}/api/bars/AAPL", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        assert set(pool.map(get, range(REQUESTS))) == {200}
        kept = server_backends()
        assert 1 <= len(kept) <= THREADS
        assert set(pool.map(get, range(REQUESTS))) == {200}
    assert server_backends() == kept  # the same connections again: none opened, none left behind


def test_an_open_event_stream_holds_no_connection(client, server):
    stream = EventStream(server.url, session=session_of(client, make_user("bob")))
    try:
        hello(stream)  # the view has looked up the session, the user and their tickers
        wait_until(lambda: not server_backends(), seconds=10, what="the stream's connection to close")
    finally:
        stream.close()
