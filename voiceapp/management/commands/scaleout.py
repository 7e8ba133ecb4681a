"""`manage.py scaleout`: N web processes behind HAProxy, with rq workers and the cron, on this
deployment's PostgreSQL and Redis (voiceapp.scaleout). Runs until Ctrl-C or SIGTERM, then stops
everything in order."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from voiceapp.scaleout import ScaleOut, ScaleOutError


def check_shared_state() -> None:
    """Processes share calls only through PostgreSQL and the Redis channel layer: refuse the
    embedded default (SQLite, the in-memory layer), where each process would be an island."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise CommandError("scale-out needs PostgreSQL: set DATABASE_URL=postgres://...")
    if not settings.REDIS_URL or "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        raise CommandError("scale-out needs Redis: set REDIS_URL=redis://...")


class Command(BaseCommand):
    help = "Start N Daphne processes behind HAProxy, rq workers and the cron (Ctrl-C stops)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
        parser.add_argument("-b", "--bind", default="127.0.0.1", help="the balancer's address")
        parser.add_argument("-p", "--port", type=int, default=8000, help="the balancer's port")
        parser.add_argument("--workers", type=int, default=1, help="rq worker processes")
        parser.add_argument("--pin", action="store_true", help="web process i on CPU i")
        parser.add_argument("--log-dir", default="", help="default: a new temporary directory")

    def handle(self, *args, processes, bind, port, workers, pin, log_dir, **options) -> None:
        check_shared_state()
        directory = Path(log_dir or tempfile.mkdtemp(prefix="voiceapp-scaleout-"))
        setup = ScaleOut(
            env=dict(os.environ),
            log_dir=directory,
            processes=processes,
            port=port,
            bind=bind,
            workers=workers,
            pin=pin,
        )
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            setup.start()
        except ScaleOutError as exc:
            raise CommandError(str(exc)) from exc
        for web in setup.web:
            cpu = f", CPU {web.cpu}" if web.cpu is not None else ""
            self.stdout.write(f"{web.name}: Daphne pid {web.process.pid} on {web.url}{cpu}")
        self.stdout.write(f"rq workers: {workers}; cron: rqcron voiceapp.cron; logs in {directory}")
        self.stdout.write(f"HAProxy on {setup.url} (health checks: /healthz every second)")
        dead: list[str] = []
        try:
            while not stopping and not dead:
                time.sleep(0.5)
                dead = setup.dead()
        finally:
            self.stdout.write("stopping: web processes (finishing their calls), then the rest")
            setup.stop()
        if dead:
            raise CommandError(f"{', '.join(dead)} exited; see the logs in {directory}")
