from django import forms
from django.contrib import admin

from telephony.models import PhoneNumber, TwilioAccount
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
