"""The web process on uvicorn with uvloop, httptools and the websockets library: the other server
`manage.py serve --server uvicorn` (or WEB_SERVER=uvicorn) runs, for a process that carries
many calls (README "Benchmarks": the same calls on less of a core than Daphne).

The same application (voiceapp.asgi) and the same project timeouts where uvicorn has them, and
the same graceful shutdown as Daphne's (voiceapp.management.commands.serve): on SIGTERM or
SIGINT no new connection is taken, every live call is closed with the outcome
"server_shutdown" (its last records written, its final status given), then uvicorn closes what
is left. uvicorn has no limit on a request's time to answer (Daphne's HTTP_TIMEOUT_SECONDS) nor
on a socket's whole life (WEBSOCKET_TIMEOUT_SECONDS); a call's length is bounded by its agent's
max_call_seconds either way.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading

import uvicorn
from django.conf import settings

from calls.engine.heartbeat import live_calls


def uvicorn_config(bind: str, port: int, *, proxy_headers: bool = False) -> uvicorn.Config:
    return uvicorn.Config(
        "voiceapp.asgi:application",
        host=bind,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        # Channels' router speaks no lifespan protocol.
        lifespan="off",
        # Twilio's media frames are small JSON; compressing them would cost CPU for nothing.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.WEBSOCKET_PING_INTERVAL_SECONDS,
        ws_ping_timeout=settings.WEBSOCKET_PING_TIMEOUT_SECONDS,
        timeout_keep_alive=settings.HTTP_IDLE_TIMEOUT_SECONDS,
        # Time for the calls' last records after their sockets closed.
        timeout_graceful_shutdown=settings.APPLICATION_CLOSE_TIMEOUT_SECONDS,
        proxy_headers=proxy_headers,
        forwarded_allow_ips="*" if proxy_headers else None,
        access_log=False,
        log_config=None,  # Django's LOGGING (the project's format) stays in charge
    )


class ProjectServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        """uvicorn's own raises the signal again once it has shut down, so the process would
        die of it (exit -15) after a clean shutdown; here it exits 0, as under Daphne."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop taking connections, end each live call through its normal close, then let
        uvicorn close the rest."""
        for server in self.servers:
            server.close()
        await live_calls.close_for_shutdown(settings.APPLICATION_CLOSE_TIMEOUT_SECONDS)
        await super().shutdown(sockets)


def run(bind: str, port: int, *, proxy_headers: bool = False) -> None:
    ProjectServer(uvicorn_config(bind, port, proxy_headers=proxy_headers)).run()
