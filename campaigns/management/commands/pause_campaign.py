from django.core.management.base import BaseCommand, CommandError

from campaigns.actions import CampaignRefused, pause_campaign
from campaigns.management.commands._campaigns import campaign_by_name, tenant_by_slug


class Command(BaseCommand):
    help = "Pause a running campaign: nothing more is dialled; calls in progress finish."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--reason", default="", help="Shown on the campaign.")

    def handle(self, *args, name, tenant, reason, **options):
        campaign = campaign_by_name(name, tenant_by_slug(tenant))
        try:
            pause_campaign(campaign.pk, by="manage.py", reason=reason)
        except CampaignRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{campaign.name}: paused.")
