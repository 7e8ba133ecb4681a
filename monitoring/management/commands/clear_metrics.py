"""`manage.py clear_metrics`: empty PROMETHEUS_MULTIPROC_DIR before the fleet starts."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from monitoring import multiprocess


class Command(BaseCommand):
    help = (
        "Empty PROMETHEUS_MULTIPROC_DIR. Run once when the whole fleet (every Daphne and rq "
        "worker) starts, never while some of it runs: their counters live there."
    )

    def handle(self, *args, **options) -> None:
        if multiprocess.directory() is None:
            self.stdout.write("PROMETHEUS_MULTIPROC_DIR is not set: nothing to clear.")
            return
        self.stdout.write(f"removed {multiprocess.clear()} metrics files")
