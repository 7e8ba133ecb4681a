from django.core.exceptions import ValidationError
from rest_framework import serializers

from telephony.models import PhoneNumber, TwilioAccount, normalize_e164, validate_account_sid
from voiceapp.api import TenantScopedSerializer, TenantScopedViewSet


class TwilioAccountSerializer(TenantScopedSerializer):
    # Write-only: owners may replace the token; nobody, owner included, reads it back.
    auth_token = serializers.CharField(write_only=True, style={"input_type": "password"})

    class Meta:
        model = TwilioAccount
        fields = ["id", "tenant", "name", "account_sid", "auth_token", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_account_sid(self, value: str) -> str:
        try:
            validate_account_sid(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class PhoneNumberSerializer(TenantScopedSerializer):
    class Meta:
        model = PhoneNumber
        fields = ["id", "tenant", "account", "number", "friendly_name", "agent", "created_at"]
        read_only_fields = ["created_at"]

    def validate_number(self, value: str) -> str:
        try:
            return normalize_e164(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate(self, attrs):
        tenant = attrs.get("tenant") or getattr(self.instance, "tenant", None)
        if tenant is None:
            from voiceapp.tenancy import default_tenant

            tenant = default_tenant(self.context["request"].user)
        for name in ("account", "agent"):
            related = attrs.get(name)
            if related is not None and tenant is not None and related.tenant_id != tenant.pk:
                raise serializers.ValidationError({name: "It belongs to another tenant."})
        return attrs


class TwilioAccountViewSet(TenantScopedViewSet):
    """Members list and read accounts (never the token); owners add, change and delete them
    (`TwilioAccount.owner_only`, enforced by the viewset's `OwnerManages`)."""

    queryset = TwilioAccount.objects.all()
    serializer_class = TwilioAccountSerializer


class PhoneNumberViewSet(TenantScopedViewSet):
    queryset = PhoneNumber.objects.select_related("agent", "account")
    serializer_class = PhoneNumberSerializer
