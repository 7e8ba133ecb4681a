import time

from django.core.management.base import BaseCommand

from campaigns.attempts import reap_attempts
from campaigns.dialer import schedule_pass
from campaigns.morning import plan_mornings


class Command(BaseCommand):
    help = (
        "The campaign scheduler in the foreground: claims due attempts and queues their dial "
        "jobs (run `manage.py rqworker default telephony` for the jobs; without REDIS_URL they "
        "run in this process). The reaper and the morning planner run every 30 s."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between passes.")

    def handle(self, *args, once, interval, **options):
        last_reap = 0.0
        while True:
            if time.monotonic() - last_reap >= 30:
                planned = plan_mornings().planned  # the daily campaigns' next mornings
                if planned:
                    self.stdout.write(f"morning calls planned: {planned}")
                reaped = reap_attempts()
                last_reap = time.monotonic()
                if reaped.requeued or reaped.redialled or reaped.lost or reaped.settled:
                    self.stdout.write(f"reaper: {reaped}")
            report = schedule_pass()
            if report.claimed or report.moved or report.skipped or report.completed or once:
                self.stdout.write(
                    f"claimed {len(report.claimed)}, moved to their window {report.moved}, "
                    f"skipped {report.skipped}, campaigns completed {len(report.completed)}"
                )
            if once:
                return
            time.sleep(interval)
