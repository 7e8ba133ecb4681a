"""`manage.py serve`: Daphne with the project's timeouts and a graceful shutdown. The one way the
web process is started (scripts/demo, production). `--server uvicorn` (or WEB_SERVER=uvicorn)
runs the same application on uvicorn with uvloop instead (voiceapp.uvicorn_server).

Daphne's defaults suit a development server, not a public one: no limit on how long the
application may take to answer, a WebSocket allowed to live a day, and an idle half-sent request
kept for Twisted's default minute. Here each comes from the settings (README "Settings"). On
SIGTERM or SIGINT, every live call is closed with the outcome "server_shutdown" (its last records
written, its final status given) before Daphne cancels the application instances.
"""

from __future__ import annotations

import asyncio

from daphne.cli import CommandLineInterface
from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand
from twisted.internet import defer

from calls.engine.heartbeat import live_calls


def daphne_arguments(bind: str, port: int, *, proxy_headers: bool = False) -> list[str]:
    """Daphne's command line for this deployment's settings."""
    arguments = [
        "--bind",
        bind,
        "--port",
        str(port),
        "--http-timeout",
        str(settings.HTTP_TIMEOUT_SECONDS),
        # Daphne uses this for both the handshake (autobahn's openHandshakeTimeout) and the
        # time allowed from connection to accept.
        "--websocket_connect_timeout",
        str(settings.WEBSOCKET_CONNECT_TIMEOUT_SECONDS),
        # Longer than the longest call (agents' max_call_seconds).
        "--websocket_timeout",
        str(settings.WEBSOCKET_TIMEOUT_SECONDS),
        "--ping-interval",
        str(settings.WEBSOCKET_PING_INTERVAL_SECONDS),
        "--ping-timeout",
        str(settings.WEBSOCKET_PING_TIMEOUT_SECONDS),
        # Time for a call's last records after its socket closed (session.close).
        "--application-close-timeout",
        str(settings.APPLICATION_CLOSE_TIMEOUT_SECONDS),
    ]
    if proxy_headers:
        arguments.append("--proxy-headers")
    return [*arguments, "voiceapp.asgi:application"]


class ProjectServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ready_callable = self._configure_http

    def _configure_http(self) -> None:
        # Twisted drops a connection idle this long while its request is incomplete (a
        # half-sent request) or between requests. Daphne has no flag for it.
        self.http_factory.timeOut = settings.HTTP_IDLE_TIMEOUT_SECONDS

    def kill_all_applications(self) -> defer.Deferred:
        """Before Daphne cancels the application instances on shutdown, end each live call
        through its normal close, within the application close timeout."""
        closing = asyncio.ensure_future(
            live_calls.close_for_shutdown(self.application_close_timeout)
        )
        deferred = defer.Deferred.fromFuture(closing)
        deferred.addBoth(lambda _: Server.kill_all_applications(self))
        return deferred


class ProjectCLI(CommandLineInterface):
    server_class = ProjectServer


class Command(BaseCommand):
    help = "Start the web server (HTTP and the media WebSocket) with the project's timeouts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("-b", "--bind", default="127.0.0.1", help="address to listen on")
        parser.add_argument("-p", "--port", type=int, default=8000)
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="take the client address from X-Forwarded-For (behind a trusted proxy)",
        )
        parser.add_argument(
            "--server",
            choices=("daphne", "uvicorn"),
            default=None,
            help="the ASGI server (default: the WEB_SERVER setting, daphne)",
        )

    def handle(
        self, *args, bind: str, port: int, proxy_headers: bool, server: str | None, **options
    ) -> None:
        if (server or settings.WEB_SERVER) == "uvicorn":
            from voiceapp import uvicorn_server

            uvicorn_server.run(bind, port, proxy_headers=proxy_headers)
            return
        ProjectCLI().run(daphne_arguments(bind, port, proxy_headers=proxy_headers))
