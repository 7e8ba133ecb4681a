"""The simulated Twilio builds one TLS context for all its calls. One per call (~55 ms of CPU
each, httpx loading the CA bundle) starved its own event loop at 200 calls in 2 s: webhooks
timed out and frames went late on the caller's side, which the benchmarks then blamed on
the server."""

from __future__ import annotations

import asyncio
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from calls.providers import http
from telephony.simulator import SimulatedCaller

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
    '<Stream url="wss://voice.example.test/ws/media/"><Parameter name="token" value="t"/>'
    "</Stream></Connect></Response>"
)


class _Voice(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = TWIML.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def voice_server():
    server = HTTPServer(("127.0.0.1", 0), _Voice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_calls_share_one_tls_context(voice_server, monkeypatch):
    built = []
    real = ssl.create_default_context
    monkeypatch.setattr(
        ssl, "create_default_context", lambda *a, **k: built.append(1) or real(*a, **k)
    )
    http.tls_context.cache_clear()

    async def two_calls():
        for _ in range(2):
            caller = SimulatedCaller(
                server=voice_server,
                public_base_url="https://voice.example.test",
                auth_token="token",
                account_sid="AC" + "1" * 32,
                to_number="+14155550100",
            )
            url, parameters = await caller._voice_webhook()
            assert url.endswith("/ws/media/") and parameters == {"token": "t"}

    try:
        asyncio.run(two_calls())
    finally:
        http.tls_context.cache_clear()
    assert len(built) == 1
