"""JSON endpoints of webhooks: a user lists, creates and deletes their own. Thin: parse, call, return.
Mounted under /api/ by stockhub/urls.py."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from notifications import selectors, services
from notifications.errors import WebhookError, WebhookErrorCode
from notifications.models import Event, Webhook

# Which request field a refusal is about, so the 400 names it ({"error": "url: ...", "detail": {"url": [...]}}).
FIELD_OF_ERROR = {
    WebhookErrorCode.INVALID_URL: "url",
    WebhookErrorCode.HOST_NOT_FOUND: "url",
    WebhookErrorCode.ADDRESS_NOT_ALLOWED: "url",
    WebhookErrorCode.INVALID_EVENTS: "events",
    WebhookErrorCode.INVALID_SECRET: "secret",
}


class WebhookRequest(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="http(s) URL on a public address")
    # Checked by the service, whose message lists the known events (DRF's per-item errors are nested dicts).
    events = serializers.ListField(
        child=serializers.CharField(max_length=32),
        help_text=f"any of {', '.join(Event.values)}; run.* and queue.alert are for staff only",
    )
    secret = serializers.CharField(
        required=False,
        min_length=services.hooks.SECRET_MIN_LENGTH,
        max_length=services.hooks.SECRET_MAX_LENGTH,
        help_text="HMAC key; generated (64 hex characters) when not given",
    )


class WebhookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Webhook
        fields = [
            "id", "url", "events", "active", "disabled_reason", "consecutive_failures",
            "last_delivery_status", "last_delivery_at", "created_at",
        ]  # fmt: skip


class CreatedWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="shown only in this response: keep it to verify signatures")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


@extend_schema(
    methods=["GET"], responses=WebhookSerializer(many=True), summary="Your webhooks (secrets not shown)"
)
@extend_schema(
    methods=["POST"],
    request=WebhookRequest,
    responses={201: CreatedWebhookSerializer},
    summary="Add a webhook; the response shows its secret, once",
    description="Deliveries are POSTed from the workers, signed: see docs/webhooks.md.",
)
@api_view(["GET", "POST"])
def webhooks_view(request: Request) -> Response:
    if request.method == "GET":
        return Response(WebhookSerializer(selectors.webhooks_of(user=request.user), many=True).data)
    body = WebhookRequest(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        created = services.create_webhook(owner=request.user, **body.validated_data)
    except WebhookError as error:
        if error.code == WebhookErrorCode.STAFF_ONLY:
            raise PermissionDenied(error.message) from error
        field = FIELD_OF_ERROR.get(error.code)
        raise ValidationError({field: [error.message]} if field else [error.message]) from error
    hook = selectors.webhooks_of(user=request.user).get(id=created.webhook_id)
    return Response(CreatedWebhookSerializer(hook).data, status=201)


@extend_schema(responses={204: None}, summary="Delete one of your webhooks and its delivery history")
@api_view(["DELETE"])
def webhook_view(request: Request, webhook_id: int) -> Response:
    if not services.delete_webhook(owner=request.user, webhook_id=webhook_id):
        raise NotFound(f"you have no webhook {webhook_id}")
    return Response(status=204)


urlpatterns = [
    path("webhooks", webhooks_view, name="api-webhooks"),
    path("webhooks/<int:webhook_id>", webhook_view, name="api-webhook"),
]
