"""Webhook services: what other apps call (`notify`) and what the API, admin and tasks use."""

from notifications.services.delivery import DeliveryResult, deliver_webhook
from notifications.services.hooks import (
    CreatedWebhook,
    check_webhook,
    create_webhook,
    delete_webhook,
    enable_webhooks,
)
from notifications.services.notify import (
    DispatchResult,
    NotifyResult,
    dispatch_due_deliveries,
    notify,
    notify_patterns_detected,
    notify_queue_alert,
)

__all__ = [
    "CreatedWebhook",
    "DeliveryResult",
    "DispatchResult",
    "NotifyResult",
    "check_webhook",
    "create_webhook",
    "delete_webhook",
    "deliver_webhook",
    "dispatch_due_deliveries",
    "enable_webhooks",
    "notify",
    "notify_patterns_detected",
    "notify_queue_alert",
]
