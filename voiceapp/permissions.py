"""Who may use the API (kept apart from the viewsets: DRF imports it while loading itself)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from voiceapp.tenancy import may_manage, tenant_ids


class IsTenantStaff(BasePermission):
    """An authenticated, active user who is a superuser or a member of at least one tenant."""

    def has_permission(self, request, view) -> bool:
        ids = tenant_ids(request.user)
        return ids is None or bool(ids)


class OwnerManages(BasePermission):
    """The owner rule of `voiceapp.tenancy.may_manage`, the one the admin applies too: every
    member reads; only the tenant's owners add, change or delete rows of an `owner_only` model."""

    message = "Only an owner of the tenant may add, change or delete this."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or may_manage(request.user, _model(view))

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in SAFE_METHODS or may_manage(request.user, type(obj), obj)


def _model(view):
    return view.get_queryset().model
