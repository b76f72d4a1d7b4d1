"""Queue names, routing and priorities come from one place and map onto the broker correctly."""

import pytest

from stockhub.queues import (
    PRIORITY_BANDS,
    TASK_ROUTES,
    Queue,
    Reason,
    broker_priority,
    dynamic_priority,
    route,
)


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


def test_our_scale_maps_onto_the_brokers_zero_first_scale():
    assert [broker_priority(p) for p in range(1, 11)] == list(range(10))
    with pytest.raises(ValueError):
        broker_priority(0)
    with pytest.raises(ValueError):
        broker_priority(11)


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
