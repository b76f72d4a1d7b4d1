"""Celery doors into webhooks, on the analysis lane: each takes ids and calls one service."""

from celery import shared_task

from notifications.services import deliver_webhook, dispatch_due_deliveries

# Not JobTask: that base records failures on FetchJob rows, and the delivery row is the record here.
# acks_late + reject_on_worker_lost: a worker that dies mid-request gets the message redelivered, and the
# claim on the delivery row decides whether the copy may run. The limits are a safety net only: each request
# has its own timeouts (STOCKHUB_WEBHOOK_TIMEOUT_SECONDS).
TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "soft_time_limit": 60,
    "time_limit": 90,
}


@shared_task(name="analysis.deliver_webhook", **TASK_OPTIONS)
def deliver_webhook_task(delivery_id: int) -> None:
    deliver_webhook(delivery_id=delivery_id)


@shared_task(name="analysis.dispatch_webhooks", **TASK_OPTIONS)
def dispatch_webhooks_task() -> None:
    dispatch_due_deliveries()
