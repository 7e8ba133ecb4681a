"""The morning call in the admin: contacts paused in a daily campaign. Adding a row pauses the
contact, deleting it resumes them; both go through campaigns.morning's actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from campaigns.models import PausedContact
from campaigns.morning import PauseRefused, pause_contact, resume_contact
from voiceapp.tenancy import TenantModelAdmin


@admin.register(PausedContact)
class PausedContactAdmin(TenantModelAdmin):
    list_display = ["contact", "campaign", "paused_by", "paused_at"]
    search_fields = ["contact__phone", "contact__name", "campaign__name"]
    list_select_related = ["campaign", "contact"]
    fields = ["campaign", "contact"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        def clean(this):
            data = super(form, this).clean()
            campaign, contact = data.get("campaign"), data.get("contact")
            if (
                campaign
                and contact
                and not campaign.contact_list.contacts.filter(pk=contact.pk).exists()
            ):
                raise ValidationError(f"{contact} is not on the list of {campaign}.")
            if campaign and campaign.recurrence != campaign.Recurrence.DAILY:
                raise ValidationError("Only a daily campaign pauses contacts one by one.")
            return data

        form.clean = clean
        return form

    def save_model(self, request: HttpRequest, obj: PausedContact, form, change) -> None:
        try:
            saved = pause_contact(obj.campaign_id, obj.contact_id, by=request.user.get_username())
        except PauseRefused as refusal:
            messages.error(request, str(refusal))
            return
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: PausedContact) -> None:
        resume_contact(obj.campaign_id, obj.contact_id, by=request.user.get_username())

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for pause in queryset:
            self.delete_model(request, pause)
