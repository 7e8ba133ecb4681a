from django import forms
from django.contrib import admin, messages

from voiceapp.tenancy import TenantModelAdmin
from webhooks.delivery import redeliver
from webhooks.models import Delivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="The URL that receives the JSON POSTs."
    )
    # Write-only: an owner may type a new secret; the page never holds the current one.
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        min_length=16,
        help_text="Stored encrypted and never shown. Leave blank to keep the current secret.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "name", "url", "secret", "events", "active"]

    def clean_secret(self):
        secret = self.cleaned_data.get("secret")
        if not secret:
            if not self.instance.pk:
                raise forms.ValidationError("The secret is required.")
            return self.instance.secret
        return secret


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantModelAdmin):
    """Owners manage endpoints (`WebhookEndpoint.owner_only`); other members only read them."""

    form = WebhookEndpointForm
    list_display = ["name", "url", "events", "active", "tenant"]
    search_fields = ["name", "url"]
    readonly_fields = ["created_at", "updated_at"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            # A view-only page shows each field's value as text: the secret would be shown.
            fields = [name for name in fields if name != "secret"]
        return fields


@admin.register(Delivery)
class DeliveryAdmin(TenantModelAdmin):
    """What was sent to the shop's systems and what they answered. Written by the system."""

    list_display = [
        "event",
        "key",
        "endpoint",
        "status",
        "attempts",
        "response_status",
        "last_error",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint"]
    search_fields = ["key", "event", "uid"]
    actions = ["redeliver_now"]
    fields = [
        "endpoint",
        "event",
        "key",
        "uid",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "response_status",
        "duration_ms",
        "last_error",
        "response_body",
        "payload",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what was sent stays

    @admin.action(description="Redeliver now")
    def redeliver_now(self, request, queryset):
        count = redeliver(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)
