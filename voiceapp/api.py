"""The API's tenancy: who may call it, and viewsets that only ever see the caller's tenants."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotAuthenticated, PermissionDenied

from voiceapp.models import Tenant
from voiceapp.permissions import IsTenantStaff, OwnerManages
from voiceapp.tenancy import default_tenant, may_manage, scope, tenant_ids


class CurrentTenantDefault:
    """The default of a `tenant` field: the caller's only tenant.

    A callable with context rather than a Tenant instance, so that the schema generator (which
    writes a plain default into the OpenAPI document) leaves it out instead of failing on it.
    """

    requires_context = True

    def __call__(self, serializer_field) -> Tenant | None:
        return default_tenant(serializer_field.context["request"].user)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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
            ids = tenant_ids(user)
            if ids is not None and len(ids) == 1:  # one tenant: the default, and the only choice
                tenant_field.required = False
                tenant_field.default = CurrentTenantDefault()
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
    """Read and write the caller's tenants' rows; rows of an `owner_only` model are written by
    the tenant's owners only (the owner rule the admin applies too)."""

    permission_classes = [IsTenantStaff, OwnerManages]

    def perform_create(self, serializer) -> None:
        self._check_owner(serializer)
        super().perform_create(serializer)

    def perform_update(self, serializer) -> None:
        self._check_owner(serializer)
        super().perform_update(serializer)

    def _check_owner(self, serializer) -> None:
        """The tenant a row is written to must be one the caller may manage it in (a member of
        two tenants may own one and not the other)."""
        tenant = serializer.validated_data.get("tenant")
        model = self.get_queryset().model
        if tenant is not None and not may_manage(self.request.user, model, tenant):
            raise PermissionDenied(OwnerManages.message)


class TenantScopedReadOnlyViewSet(TenantScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI for the API's users, under the Content-Security-Policy: its assets from the
    project's static files, its init script a request of its own, no inline code. Someone not
    logged in is sent to the login page first."""

    template_name = "voiceapp/api_docs.html"

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)
