"""The API's tenancy: who may call it, and viewsets that only ever see the caller's tenants."""

from __future__ import annotations

from rest_framework import serializers, viewsets

from voiceapp.models import Tenant
from voiceapp.tenancy import default_tenant, scope


class TenantScopedSerializer(serializers.ModelSerializer):
    """Related-object choices (and the tenant itself) limited to the caller's tenants, so a
    foreign key to another tenant's row is refused as 'does not exist'."""

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for field in fields.values():
            target = getattr(field, "child_relation", field)
            queryset = getattr(target, "queryset", None)
            if queryset is not None and user is not None:
                target.queryset = scope(queryset, user)
        tenant_field = fields.get("tenant")
        if tenant_field is not None and not tenant_field.read_only and user is not None:
            tenant = default_tenant(user)
            if tenant is not None:  # one tenant: it is the default, and the only choice
                tenant_field.required = False
                tenant_field.default = tenant
        return fields

    def create(self, validated_data):
        if self.Meta.model is not Tenant and "tenant" not in validated_data:
            tenant = default_tenant(self.context["request"].user)
            if tenant is None:
                raise serializers.ValidationError({"tenant": "Choose the tenant."})
            validated_data["tenant"] = tenant
        return super().create(validated_data)


class TenantScopedQuerysetMixin:
    """Only ever the caller's tenants' rows: lists, lookups (404 across tenants), updates and
    deletes."""

    def get_queryset(self):
        return scope(super().get_queryset(), self.request.user)


class TenantScopedViewSet(TenantScopedQuerysetMixin, viewsets.ModelViewSet):
    pass


class TenantScopedReadOnlyViewSet(TenantScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    pass
