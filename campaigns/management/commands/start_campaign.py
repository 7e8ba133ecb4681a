from django.core.management.base import BaseCommand, CommandError

from campaigns.actions import CampaignRefused, resume_campaign, start_campaign
from campaigns.management.commands._campaigns import campaign_by_name, tenant_by_slug


class Command(BaseCommand):
    help = (
        "Start a draft campaign (or resume a paused one): its contacts are dialled by the dialer."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")

    def handle(self, *args, name, tenant, **options):
        campaign = campaign_by_name(name, tenant_by_slug(tenant))
        act = resume_campaign if campaign.status == "paused" else start_campaign
        try:
            campaign = act(campaign.pk, by="manage.py")
        except CampaignRefused as exc:
            raise CommandError(str(exc)) from None
        count = campaign.attempts.count()
        self.stdout.write(f"{campaign.name}: running, {count} attempts scheduled.")
