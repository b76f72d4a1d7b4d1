"""Webhooks, one delivery row per event per hook, and one attempt row per HTTP request made for it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Event(models.TextChoices):
    RUN_COMPLETED = "run.completed", "a pipeline run completed"
    RUN_FAILED = "run.failed", "a pipeline run failed"
    TICKER_COMPLETED = "ticker.completed", "a ticker's work completed"
    TICKER_FAILED = "ticker.failed", "a ticker's work failed"
    PATTERNS_DETECTED = "patterns.detected", "new patterns on a held ticker"
    QUEUE_ALERT = "queue.alert", "a queue alert fired or recovered"


# Events about the whole system rather than one user's tickers: only staff may subscribe to them, and
# notify() without owner_ids sends them to staff-owned hooks only.
STAFF_EVENTS = frozenset({Event.RUN_COMPLETED, Event.RUN_FAILED, Event.QUEUE_ALERT})


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"  # waiting for its first attempt or a retry
    DELIVERED = "delivered", "delivered"  # the receiver answered 2xx
    FAILED = "failed", "failed"  # given up: a 4xx, retries used up, an address refused, or the hook disabled


class Webhook(models.Model):
    """An HTTP(S) endpoint of one user that is POSTed the events it subscribes to, signed with its secret."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500, help_text="http(s) URL the events are POSTed to")
    events = models.JSONField(
        default=list, help_text='event names, e.g. ["patterns.detected", "ticker.failed"]'
    )
    secret = models.CharField(
        max_length=128, help_text="HMAC-SHA256 key of X-StockHub-Signature; 16-128 characters"
    )
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(
        max_length=300, blank=True, help_text="why StockHub disabled the hook; cleared when re-enabled"
    )
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text="failed deliveries since the last successful one"
    )
    last_delivery_status = models.CharField(max_length=10, choices=DeliveryStatus.choices, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner_id", "id"]
        indexes = [models.Index(fields=["active", "owner"], name="webhook_active_owner")]

    def __str__(self) -> str:
        return f"webhook {self.pk} {self.url}"


class WebhookDelivery(models.Model):
    """One event for one hook: the body is fixed when the event happens; every retry sends the same bytes."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=Event.choices)
    body = models.TextField(help_text="the JSON envelope sent, exactly as signed")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Due time of the next attempt. While an attempt runs it is pushed past the attempt's timeout (a lease),
    # so a duplicate message finds it not due, and a worker that died mid-attempt is retried by the sweeper.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_pending_due"
            ),
            models.Index(fields=["webhook", "status"], name="delivery_webhook_status"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} {self.event} {self.status}"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "delivered"
    RETRY = "retry", "will retry"
    FAILED = "failed", "failed, no retry"


class WebhookAttempt(models.Model):
    """One HTTP request made for a delivery: when, what came back, and what StockHub decided."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField(help_text="1 for the first attempt")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_unique_delivery_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"
