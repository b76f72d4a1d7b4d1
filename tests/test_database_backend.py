"""stockhub.postgresql: a kept connection's health check asks the operating system, not the server, and
still catches a connection the server cut."""

from __future__ import annotations

import time

import psycopg2
import pytest
from django.db import close_old_connections, connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_session():
    """A second session on the test database, to watch and cut this test's connection."""
    if connection.vendor != "postgresql":
        pytest.skip("the backend is PostgreSQL's")
    params = connection.get_connection_params()
    session = psycopg2.connect(**params)
    session.autocommit = True
    yield session.cursor()
    session.close()


def last_query_of(cursor, pid: int) -> str:
    cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
    return cursor.fetchone()[0]


def test_an_idle_connection_is_found_usable_without_a_query(other_session):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid() /* before the check */")
        pid = cursor.fetchone()[0]

    assert connection.is_usable()

    assert last_query_of(other_session, pid) == "SELECT pg_backend_pid() /* before the check */"


@pytest.mark.django_db(
    transaction=True
)  # no test transaction around it: the connection is closed and reopened
def test_a_connection_the_server_cut_is_found_unusable_and_replaced(other_session):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other_session.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:  # the goodbye takes a moment to arrive
        time.sleep(0.01)

    assert not connection.is_usable()
    close_old_connections()  # a request's or a task's start: the next query checks the connection first
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
