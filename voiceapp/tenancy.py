"""Tenant scoping shared by the admin and the API.

A superuser sees every tenant; any other user sees the tenants they hold a Membership in,
and nothing else. Models say how they reach their tenant with `tenant_path` (default
"tenant"; a Turn says "call__tenant"), and with `owner_only = True` that only a tenant's owners
may add, change or delete them (`may_manage`: the one rule the admin and the API both ask).
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from voiceapp.models import Membership, Tenant


def tenant_path(model: type[models.Model]) -> str | None:
    """How `model` reaches its tenant, or None when it is not tenant-owned."""
    if model is Tenant:
        return "pk"
    path = getattr(model, "tenant_path", None)
    if path:
        return path
    if any(f.name == "tenant" and f.related_model is Tenant for f in model._meta.fields):
        return "tenant"
    return None


def tenant_ids(user) -> list[int] | None:
    """The tenants `user` may see; None means all of them (a superuser)."""
    if not user or not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    cached = getattr(user, "_tenant_ids", None)
    if cached is None:
        cached = list(
            Membership.objects.filter(user=user, tenant__active=True).values_list(
                "tenant_id", flat=True
            )
        )
        user._tenant_ids = cached
    return cached


def owned_tenant_ids(user) -> list[int] | None:
    """The active tenants `user` is an owner of; None means all of them (a superuser)."""
    if not user or not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    cached = getattr(user, "_owned_tenant_ids", None)
    if cached is None:
        cached = list(
            Membership.objects.filter(
                user=user, tenant__active=True, role=Membership.Role.OWNER
            ).values_list("tenant_id", flat=True)
        )
        user._owned_tenant_ids = cached
    return cached


def tenant_id_of(obj: models.Model) -> int:
    """The pk of the tenant `obj` belongs to (a Tenant's own pk for a Tenant)."""
    target = obj
    for part in (tenant_path(type(obj)) or "tenant").split("__")[:-1]:
        target = getattr(target, part)
    return target.tenant_id if hasattr(target, "tenant_id") else target.pk


def may_manage(user, model: type[models.Model], obj: models.Model | None = None) -> bool:
    """The owner rule: may `user` add (no `obj`), change or delete (`obj`) rows of `model`?

    Rows of a model marked `owner_only` (carrier credentials) are managed by a superuser or by
    an owner of the row's tenant; to add one, the user must own at least one tenant (which
    tenant the new row goes to is checked again with `obj` = that Tenant). Any other model:
    every member may. Reading is not this rule's business: every member reads.
    """
    if not getattr(model, "owner_only", False):
        return True
    owned = owned_tenant_ids(user)
    if owned is None:
        return True
    if obj is None:
        return bool(owned)
    return tenant_id_of(obj) in owned


def scope(queryset: models.QuerySet, user) -> models.QuerySet:
    """`queryset` cut down to the rows of `user`'s tenants (unchanged for a superuser)."""
    path = tenant_path(queryset.model)
    if path is None:
        return queryset
    ids = tenant_ids(user)
    if ids is None:
        return queryset
    lookup = "pk__in" if path == "pk" else f"{path}__in"
    return queryset.filter(**{lookup: ids})


def default_tenant(user) -> Tenant | None:
    """The tenant a new row goes to when the user has exactly one."""
    ids = tenant_ids(user)
    if ids and len(ids) == 1:
        return Tenant.objects.get(pk=ids[0])
    return None


def _scoped(field, request: HttpRequest):
    """A form field whose choices are cut down to the user's tenants' rows."""
    if field is not None and hasattr(field, "queryset"):
        field.queryset = scope(field.queryset, request.user)
    return field


class TenantAdminMixin:
    """Makes a ModelAdmin show, search, filter, act on and offer as choices only the rows of the
    staff member's tenants, and set the tenant on create.

    A member with one tenant never sees the tenant field; one with several picks among theirs.
    Rows of an `owner_only` model are read-only to members who do not own their tenant.
    """

    def get_queryset(self, request: HttpRequest):
        return scope(super().get_queryset(request), request.user)

    # -- permissions: membership is the permission; owners manage `owner_only` models
    def _member(self, request: HttpRequest) -> bool:
        ids = tenant_ids(request.user)
        return ids is None or bool(ids)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._member(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._member(request)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return self._member(request) and may_manage(request.user, self.model)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._member(request) and may_manage(request.user, self.model, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._member(request) and may_manage(request.user, self.model, obj)

    # -- choices
    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        field = _scoped(super().formfield_for_foreignkey(db_field, request, **kwargs), request)
        if db_field.name == "tenant" and getattr(self.model, "owner_only", False):
            owned = owned_tenant_ids(request.user)
            if owned is not None:  # an owner-only row goes to a tenant the user owns
                field.queryset = field.queryset.filter(pk__in=owned)
        return field

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        return _scoped(super().formfield_for_manytomany(db_field, request, **kwargs), request)

    # -- the tenant field
    def get_exclude(self, request: HttpRequest, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if default_tenant(request.user) is not None and self._has_tenant_field():
            exclude.append("tenant")
        return exclude

    def get_list_filter(self, request: HttpRequest):
        filters = list(super().get_list_filter(request))
        if tenant_ids(request.user) is None and self._has_tenant_field():
            filters.insert(0, "tenant")
        return filters

    def _has_tenant_field(self) -> bool:
        return any(f.name == "tenant" for f in self.model._meta.fields)

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        tenant = default_tenant(request.user)
        if tenant is None or not self._has_tenant_field():
            return form

        class TenantForm(form):
            # The tenant is set before validation, so model checks that compare tenants work.
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                if not self.instance.tenant_id:
                    self.instance.tenant = tenant

        return TenantForm

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if self._has_tenant_field() and not getattr(obj, "tenant_id", None):
            tenant = default_tenant(request.user)
            if tenant is not None:
                obj.tenant = tenant
        super().save_model(request, obj, form, change)


class TenantModelAdmin(TenantAdminMixin, admin.ModelAdmin):
    """The ModelAdmin every tenant-owned model uses."""


class TenantInline(TenantAdminMixin, admin.TabularInline):
    """An inline whose permissions are membership (as the page it sits on) and whose choices
    are the tenant's rows. Django's own inline asks for model permissions, which members do
    not hold, so a plain TabularInline is invisible to a tenant's staff."""

    extra = 0
