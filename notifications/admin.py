"""Admin pages for webhooks (last delivery, why disabled) and their deliveries with every attempt."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from notifications.errors import WebhookError
from notifications.models import Event, Webhook, WebhookAttempt, WebhookDelivery
from notifications.services import check_webhook, enable_webhooks


class WebhookForm(forms.ModelForm):
    """Events as checkboxes; the same checks as the API (http(s), public address, staff-only events)."""

    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Webhook
        fields = ["owner", "url", "events", "secret", "active", "disabled_reason"]

    def clean(self):
        data = super().clean()
        if self.errors or "owner" not in data:
            return data
        try:
            data["events"] = check_webhook(
                owner=data["owner"], url=data["url"], events=data["events"], secret=data["secret"]
            )
        except WebhookError as error:
            raise forms.ValidationError(error.message) from error
        return data


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = [
        "id", "owner", "url", "event_list", "active", "last_delivery_status", "last_delivery_at",
        "consecutive_failures", "disabled_reason",
    ]  # fmt: skip
    list_filter = ["active", "last_delivery_status"]
    search_fields = ["url", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["consecutive_failures", "last_delivery_status", "last_delivery_at", "created_at"]
    actions = ["enable_selected"]

    @admin.display(description="events")
    def event_list(self, hook: Webhook) -> str:
        return ", ".join(hook.events)

    @admin.action(description="Enable again (clears failures and the disabled reason)")
    def enable_selected(self, request, queryset) -> None:
        count = enable_webhooks(webhook_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} webhook(s) enabled", messages.SUCCESS)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "duration_ms", "response_code", "outcome", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id", "webhook", "event", "status", "attempts", "last_response_code", "last_error",
        "next_attempt_at", "created_at", "finished_at",
    ]  # fmt: skip
    list_filter = ["status", "event", "last_response_code"]
    search_fields = ["webhook__url", "webhook__owner__username"]
    list_select_related = ["webhook"]
    readonly_fields = [
        "webhook", "event", "body", "status", "attempts", "next_attempt_at", "last_attempt_at",
        "last_response_code", "last_error", "created_at", "finished_at",
    ]  # fmt: skip
    inlines = [AttemptInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False  # deliveries come from events, never by hand
