"""Queue names, routing and priorities come from one place and map onto the broker correctly."""

import pytest

from stockhub.config import is_redis_broker
from stockhub.queues import (
    PRIORITY_BANDS,
    TASK_ROUTES,
    Queue,
    Reason,
    broker_priority,
    dynamic_priority,
    route,
)

pytestmark = pytest.mark.queues


@pytest.mark.parametrize(
    ("reason", "queue", "priority"),
    [
        (Reason.USER_LOGIN, Queue.FOREGROUND, 1),
        (Reason.USER_REQUEST, Queue.FOREGROUND, 3),
        (Reason.SCHEDULED, Queue.BACKGROUND, 5),
        (Reason.ANALYSIS, Queue.ANALYSIS, 8),
        (Reason.MAINTENANCE, Queue.ANALYSIS, 10),
    ],
)
def test_each_reason_routes_to_its_queue_and_default_priority(reason, queue, priority):
    assert route(reason) == (queue, priority)


def test_every_default_priority_lies_in_its_queues_band():
    for reason in Reason:
        queue, priority = route(reason)
        low, high = PRIORITY_BANDS[queue]
        assert low <= priority <= high, reason


REDIS = "redis://127.0.0.1:6379/0"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def test_our_scale_maps_onto_redis_where_zero_is_served_first():
    assert [broker_priority(p, broker_url=REDIS) for p in range(1, 11)] == list(range(10))
    assert broker_priority(1, broker_url="redis+socket:///tmp/r.sock?virtual_host=0") == 0
    with pytest.raises(ValueError):
        broker_priority(0, broker_url=REDIS)
    with pytest.raises(ValueError):
        broker_priority(11, broker_url=REDIS)


def test_our_scale_maps_onto_rabbitmq_where_the_highest_number_is_served_first():
    assert [broker_priority(p, broker_url=AMQP) for p in range(1, 11)] == list(range(9, -1, -1))
    assert broker_priority(1, broker_url="pyamqp://guest@rabbit//") == 9
    with pytest.raises(ValueError):
        broker_priority(11, broker_url=AMQP)


def test_the_mapping_follows_the_configured_broker(settings):
    settings.CELERY_BROKER_URL = AMQP
    assert broker_priority(1) == 9
    settings.CELERY_BROKER_URL = REDIS
    assert broker_priority(1) == 0


def test_redis_only_transport_options_apply_to_redis_brokers_alone():
    from django.conf import settings

    from celery_app import app

    options = app.conf.broker_transport_options
    assert options["max_retries"] == 1
    if is_redis_broker(settings.CELERY_BROKER_URL):
        assert options["priority_steps"] == list(range(10))
        assert options["queue_order_strategy"] == "priority"
    else:
        assert "priority_steps" not in options
        assert "visibility_timeout" not in options
    # the safety-net default is our background priority 5 on whichever scale the broker uses
    assert app.conf.task_default_priority == broker_priority(5, broker_url=settings.CELERY_BROKER_URL)


def test_task_names_route_by_their_lane_prefix():
    assert TASK_ROUTES == {
        "foreground.*": {"queue": "foreground"},
        "background.*": {"queue": "background"},
        "analysis.*": {"queue": "analysis"},
    }


def test_dynamic_priority_weighs_activity_value_age_and_volatility():
    # score = 0.4*1 + 0.3*0.5 + 0.2*0 + 0.1*0 = 0.55 -> 4 + round(0.45 * 2) = 5
    assert dynamic_priority(Queue.BACKGROUND, activity=1, value=0.5, age=0, volatility=0) == 5
    # score 1 -> the top of the band, score 0 -> the bottom
    assert dynamic_priority(Queue.BACKGROUND, activity=1, value=1, age=1, volatility=1) == 4
    assert dynamic_priority(Queue.BACKGROUND, activity=0, value=0, age=0, volatility=0) == 6
    # analysis band 7..10: score 0.7 -> 7 + round(0.3 * 3) = 8
    assert dynamic_priority(Queue.ANALYSIS, activity=1, value=1, age=0, volatility=0) == 8


def test_activity_outweighs_volatility():
    active = dynamic_priority(Queue.ANALYSIS, activity=1, value=0, age=0, volatility=0)
    volatile = dynamic_priority(Queue.ANALYSIS, activity=0, value=0, age=0, volatility=1)
    assert active < volatile


def test_out_of_range_factors_never_leave_the_band():
    assert dynamic_priority(Queue.FOREGROUND, activity=50, value=9, age=3, volatility=7) == 1
    assert dynamic_priority(Queue.FOREGROUND, activity=-5, value=-1, age=-1, volatility=-2) == 3


def test_a_worker_takes_the_cpu_niceness_of_its_most_urgent_queue():
    from stockhub.queues import worker_niceness

    assert worker_niceness(["foreground"]) == 0
    assert worker_niceness(["background"]) == 10
    assert worker_niceness(["analysis"]) == 15
    assert worker_niceness(["analysis", "foreground"]) == 0
    assert worker_niceness(["somebody-elses-queue"]) == 0
