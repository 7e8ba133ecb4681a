"""Who may use the API (kept apart from the viewsets: DRF imports it while loading itself)."""

from rest_framework.permissions import BasePermission

from voiceapp.tenancy import tenant_ids


class IsTenantStaff(BasePermission):
    """An authenticated, active user who is a superuser or a member of at least one tenant."""

    def has_permission(self, request, view) -> bool:
        ids = tenant_ids(request.user)
        return ids is None or bool(ids)
