"""What the campaign commands share: finding the tenant and the campaign by name."""

from __future__ import annotations

from django.core.management.base import CommandError

from campaigns.models import Campaign
from voiceapp.models import Tenant


def tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"No tenant {slug!r}.")
    return tenant


def campaign_by_name(name: str, tenant: Tenant) -> Campaign:
    campaign = Campaign.objects.filter(tenant=tenant, name=name).first()
    if campaign is None:
        raise CommandError(f"No campaign {name!r} for {tenant.slug}.")
    return campaign
