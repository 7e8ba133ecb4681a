from django import forms
from django.contrib import admin, messages

from telephony import texts
from telephony.models import PhoneNumber, Text, TextOptOut, TwilioAccount
from telephony.signatures import forget_cached_tokens
from voiceapp.tenancy import TenantModelAdmin


class TwilioAccountForm(forms.ModelForm):
    # Write-only: an owner may type a new token; the page never holds the current one.
    auth_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Stored encrypted and never shown. Leave blank to keep the current token.",
    )

    class Meta:
        model = TwilioAccount
        fields = ["tenant", "name", "account_sid", "auth_token"]

    def clean_auth_token(self):
        token = self.cleaned_data.get("auth_token")
        if not token:
            if not self.instance.pk:
                raise forms.ValidationError("The auth token is required.")
            return self.instance.auth_token
        return token


@admin.register(TwilioAccount)
class TwilioAccountAdmin(TenantModelAdmin):
    """Owners manage accounts (`TwilioAccount.owner_only`); other members only read them."""

    form = TwilioAccountForm
    list_display = ["name", "account_sid", "tenant", "created_at"]
    search_fields = ["name", "account_sid"]
    readonly_fields = ["created_at", "updated_at"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            # A view-only page shows each field's value as text: the token would be shown.
            fields = [name for name in fields if name != "auth_token"]
        return fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_cached_tokens()


@admin.register(PhoneNumber)
class PhoneNumberAdmin(TenantModelAdmin):
    list_display = ["number", "friendly_name", "agent", "account", "tenant"]
    list_select_related = ["agent", "account", "tenant"]
    search_fields = ["number", "friendly_name", "agent__name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Text)
class TextAdmin(TenantModelAdmin):
    """Every text sent (or not) to a customer, with Twilio's last word on it."""

    list_display = [
        "to",
        "key",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "from_number",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["to", "key", "twilio_sid"]
    actions = ["retry_now"]
    fields = [
        "to",
        "from_number",
        "key",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "twilio_sid",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what was sent stays

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        count = texts.retry_now(list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"{count} texts queued again (sent, delivered and skipped ones are left alone).",
            messages.SUCCESS,
        )


@admin.register(TextOptOut)
class TextOptOutAdmin(TenantModelAdmin):
    """Who replied STOP. Staff may add one for a customer who asked by phone."""

    list_display = ["phone", "opted_out", "keyword", "changed_at", "tenant"]
    list_filter = ["opted_out"]
    search_fields = ["phone"]
    readonly_fields = ["changed_at"]
