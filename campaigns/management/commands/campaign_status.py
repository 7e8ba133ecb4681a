from django.core.management.base import BaseCommand

from campaigns.management.commands._campaigns import campaign_by_name, tenant_by_slug
from campaigns.models import Campaign
from campaigns.progress import COLUMNS, progress


class Command(BaseCommand):
    help = "A table of the progress of a tenant's campaigns (or of one)."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")

    def handle(self, *args, name, tenant, **options):
        owner = tenant_by_slug(tenant)
        if name:
            campaigns = [campaign_by_name(name, owner)]
        else:
            campaigns = list(Campaign.objects.filter(tenant=owner).order_by("name"))
        header = ["campaign", "status", *(label for _, label in COLUMNS), "next attempt"]
        rows = [header]
        for campaign in campaigns:
            p = progress(campaign)
            rows.append(
                [
                    campaign.name,
                    p["status"],
                    *(str(p["counts"][key]) for key, _ in COLUMNS),
                    (p["next_attempt_at"] or "-")[:16].replace("T", " "),
                ]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        for campaign in campaigns:
            if campaign.status_reason:
                self.stdout.write(f"{campaign.name}: {campaign.status_reason}")
