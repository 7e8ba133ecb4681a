"""import_do_not_call FILE.csv (--tenant SLUG | --global): numbers nobody may dial."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.importing import ImportRefused, import_do_not_call
from campaigns.management.progress import read_file, tenant_by_slug, terminal_progress


class Command(BaseCommand):
    help = (
        "Put the numbers of a CSV file (a phone column; note optional) on a tenant's "
        "do-not-call list, or with --global on the list every tenant honours."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file (UTF-8).")
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--tenant", help="The tenant's slug.")
        scope.add_argument(
            "--global", action="store_true", dest="everyone", help="The global list."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, file: str, tenant: str | None, everyone: bool, **options) -> None:
        data = read_file(file)
        found = None if everyone else tenant_by_slug(tenant)
        progress = None if options["no_progress"] else terminal_progress(self.stderr)
        try:
            report = import_do_not_call(found, data, progress=progress)
        except ImportRefused as exc:
            raise CommandError(f"{file}: {exc}") from None
        for line in report.summary():
            style = self.style.WARNING if line.startswith("  line") else None
            self.stdout.write(line, style)
