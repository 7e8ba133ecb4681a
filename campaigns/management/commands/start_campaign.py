from django.core.management.base import BaseCommand, CommandError

from campaigns.actions import CampaignRefused, resume_campaign, start_campaign
from campaigns.management.commands._campaigns import (
    campaign_by_name,
    contact_by_phone,
    tenant_by_slug,
)
from campaigns.morning import PauseRefused, resume_contact


class Command(BaseCommand):
    help = (
        "Start a draft campaign (or resume a paused one): its contacts are dialled by the dialer."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument(
            "--contact",
            metavar="PHONE",
            help="A daily campaign: resume only this contact (paused by pause_campaign --contact).",
        )

    def handle(self, *args, name, tenant, contact=None, **options):
        campaign = campaign_by_name(name, tenant_by_slug(tenant))
        if contact:
            person = contact_by_phone(contact, campaign)
            try:
                was_paused = resume_contact(campaign.pk, person.pk, by="manage.py")
            except PauseRefused as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(
                f"{campaign.name}: {person} {'resumed' if was_paused else 'was not paused'}."
            )
            return
        act = resume_campaign if campaign.status == "paused" else start_campaign
        try:
            campaign = act(campaign.pk, by="manage.py")
        except CampaignRefused as exc:
            raise CommandError(str(exc)) from None
        count = campaign.attempts.count()
        self.stdout.write(f"{campaign.name}: running, {count} attempts scheduled.")
