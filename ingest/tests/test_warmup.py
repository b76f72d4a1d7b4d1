"""A fresh pool process opens its connections at start-up, so its first job does not pay for them."""

import pytest
from django.db import connection

from ingest.warmup import warm_up_worker_process
from stockhub.events import redis_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_warm_up_opens_the_database_connection_and_reaches_redis(broker_url):  # (starts the test Redis)
    connection.close()
    assert connection.connection is None
    warm_up_worker_process()
    assert connection.connection is not None
    assert redis_client().ping()


def test_warm_up_with_the_broker_unreachable_still_finishes(caplog):
    from celery_app import app

    # A port nobody listens on: the warm-up logs and carries on; a job reports the broker when it needs it.
    with app.connection_for_write("redis://127.0.0.1:9/0") as unreachable:
        original = app.producer_or_acquire

        def broken_producer(producer=None):
            return original(producer=app.amqp.Producer(unreachable, auto_declare=False))

        app.producer_or_acquire = broken_producer
        try:
            warm_up_worker_process()
        finally:
            app.producer_or_acquire = original
    assert connection.connection is not None
    assert "warm-up could not open every connection yet" in caplog.text
