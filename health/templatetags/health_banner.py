"""The banner every admin page shows while one of the user's providers is failing."""

from __future__ import annotations

from django import template

from health.models import ProviderStatus
from voiceapp.tenancy import scope

register = template.Library()


@register.simple_tag(takes_context=True)
def failing_providers(context) -> list[ProviderStatus]:
    """The failing providers the page's user may see: their tenants' (all, for a superuser,
    platform providers included). One small query per admin page."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return []
    failing = ProviderStatus.objects.filter(ok=False).select_related("tenant")
    return list(scope(failing, user).order_by("key"))
