"""import_contacts FILE.csv --tenant SLUG --list NAME: contacts from a CSV file into a list."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.importing import ImportRefused, import_contacts
from campaigns.management.progress import read_file, tenant_by_slug, terminal_progress


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV file into a tenant's contact list (made if missing). "
        "Columns: phone (required), name, time_zone; every other column is a variable of the "
        "agent's texts, e.g. first_name. Bad rows are reported by line; the rest is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file (UTF-8).")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--list", required=True, dest="list_name", help="The list's name.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, file: str, tenant: str, list_name: str, **options) -> None:
        data = read_file(file)
        found = tenant_by_slug(tenant)
        progress = None if options["no_progress"] else terminal_progress(self.stderr)
        try:
            report = import_contacts(found, list_name, data, progress=progress)
        except ImportRefused as exc:
            raise CommandError(f"{file}: {exc}") from None
        for line in report.summary():
            style = self.style.WARNING if line.startswith("  line") else None
            self.stdout.write(line, style)
