"""The "System health" admin page: the provider states (linked from the admin index as the
Health app's one entry), with the breakers, workers and queues for superusers."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from health import page
from health.jobs import check_providers
from health.models import ProviderStatus
from voiceapp.jobs import enqueue
from voiceapp.tenancy import TenantModelAdmin, owned_tenant_ids


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
        if request.method == "POST":
            if not self.may_check_now(request):
                raise PermissionDenied
            # One id: clicks while a run is waiting or running add nothing.
            enqueue(check_providers, job_id="provider-health-now")
            messages.info(request, "The providers are being checked; reload in a few seconds.")
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": "System health",
            "opts": self.model._meta,
            "health": page.build(request.user),
            "may_check_now": self.may_check_now(request),
        }
        return TemplateResponse(request, "admin/health/system_health.html", context)

    def may_check_now(self, request: HttpRequest) -> bool:
        """Owners (who fix their Twilio token and want to see it green) and superusers."""
        owned = owned_tenant_ids(request.user)
        return owned is None or bool(owned)
