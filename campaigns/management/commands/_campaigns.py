"""What the campaign commands share: finding the tenant and the campaign by name."""

from __future__ import annotations

from django.core.management.base import CommandError

from campaigns.models import Campaign, Contact
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


def contact_by_phone(phone: str, campaign: Campaign) -> Contact:
    """A contact of the campaign's list, by the phone number as typed (any format)."""
    from django.core.exceptions import ValidationError

    from telephony.models import normalize_e164

    try:
        number = normalize_e164(phone)
    except ValidationError as exc:
        raise CommandError(exc.messages[0]) from None
    contact = campaign.contact_list.contacts.filter(phone=number).first()
    if contact is None:
        raise CommandError(f"{number} is not on the list of {campaign.name}.")
    return contact
