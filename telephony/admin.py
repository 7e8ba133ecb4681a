from django import forms
from django.contrib import admin

from telephony.models import PhoneNumber, TwilioAccount
from telephony.signatures import forget_cached_tokens
from voiceapp.tenancy import TenantModelAdmin


class TwilioAccountForm(forms.ModelForm):
    auth_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Stored encrypted. Leave blank to keep the current token.",
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
    owner_only = True
    form = TwilioAccountForm
    list_display = ["name", "account_sid", "tenant", "created_at"]
    search_fields = ["name", "account_sid"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_cached_tokens()


@admin.register(PhoneNumber)
class PhoneNumberAdmin(TenantModelAdmin):
    list_display = ["number", "friendly_name", "agent", "account", "tenant"]
    list_select_related = ["agent", "account", "tenant"]
    search_fields = ["number", "friendly_name", "agent__name"]
    readonly_fields = ["created_at", "updated_at"]
