from django.core.management.base import BaseCommand, CommandError

from campaigns.actions import CampaignRefused, pause_campaign
from campaigns.management.commands._campaigns import (
    campaign_by_name,
    contact_by_phone,
    tenant_by_slug,
)
from campaigns.morning import PauseRefused, pause_contact


class Command(BaseCommand):
    help = "Pause a running campaign: nothing more is dialled; calls in progress finish."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--reason", default="", help="Shown on the campaign.")
        parser.add_argument(
            "--contact",
            metavar="PHONE",
            help="A daily campaign: pause only this contact (start_campaign --contact resumes).",
        )

    def handle(self, *args, name, tenant, reason, contact=None, **options):
        campaign = campaign_by_name(name, tenant_by_slug(tenant))
        if contact:
            person = contact_by_phone(contact, campaign)
            try:
                pause_contact(campaign.pk, person.pk, by="manage.py")
            except PauseRefused as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{campaign.name}: {person} paused.")
            return
        try:
            pause_campaign(campaign.pk, by="manage.py", reason=reason)
        except CampaignRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{campaign.name}: paused.")
