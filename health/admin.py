"""The "System health" admin page: the provider states (linked from the admin index as the
Health app's one entry), with the breakers, workers and queues for superusers."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from health import page
from health.models import ProviderStatus
from voiceapp.tenancy import TenantModelAdmin


@admin.register(ProviderStatus)
class SystemHealthAdmin(TenantModelAdmin):
    """Read-only: the rows are written by the health job alone."""

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)  # Django's refusal
        context = {
            **self.admin_site.each_context(request),
            "title": "System health",
            "opts": self.model._meta,
            "health": page.build(request.user),
        }
        return TemplateResponse(request, "admin/health/system_health.html", context)
