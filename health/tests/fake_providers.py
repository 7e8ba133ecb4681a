"""One local server standing in for every provider's cheap authenticated endpoint.

It checks each request's credentials the way the provider does (Deepgram: `Token <key>`;
ElevenLabs: `xi-api-key`; Groq and OpenAI: `Bearer <key>`; Twilio: HTTP Basic with the account
SID and auth token) and answers in the provider's format; `FakeProviders.down` makes a provider
answer 503 instead.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEYS = {"deepgram": "dg-key", "elevenlabs": "el-key", "groq": "gq-key", "openai": "oa-key"}
MODELS = {
    "object": "list",
    "data": [{"id": "m1", "object": "model", "created": 0, "owned_by": "x"}],
}
TWILIO = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})\.json$")


class FakeProviders(BaseHTTPRequestHandler):
    down: set[str] = set()  # provider names ("deepgram", "twilio", ...) answering 503
    twilio_tokens: dict[str, str] = {}  # account SID -> auth token
    requests: list[tuple[str, str]] = []  # (provider, path)

    def do_GET(self):
        provider, authorized, answer = self.route()
        FakeProviders.requests.append((provider, self.path))
        if provider in FakeProviders.down:
            return self.reply(503, {"error": "service unavailable"})
        if provider == "unknown":
            return self.reply(404, {"error": "not found"})
        if not authorized:
            return self.reply(401, {"error": "invalid credentials"})
        return self.reply(200, answer)

    def route(self) -> tuple[str, bool, object]:
        auth = self.headers.get("Authorization", "")
        if self.path == "/v1/projects":
            return "deepgram", auth == f"Token {KEYS['deepgram']}", {"projects": []}
        if self.path == "/v1/models" and "xi-api-key" in self.headers:
            return "elevenlabs", self.headers["xi-api-key"] == KEYS["elevenlabs"], []
        if self.path == "/openai/v1/models":
            return "groq", auth == f"Bearer {KEYS['groq']}", MODELS
        if self.path == "/v1/models":
            return "openai", auth == f"Bearer {KEYS['openai']}", MODELS
        match = TWILIO.match(self.path)
        if match:
            sid = match.group(1)
            expected = (
                "Basic "
                + base64.b64encode(
                    f"{sid}:{FakeProviders.twilio_tokens.get(sid)}".encode()
                ).decode()
            )
            return "twilio", auth == expected, {"sid": sid, "status": "active", "type": "Full"}
        return "unknown", False, None

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def serving() -> Iterator[str]:
    """Run the fake on a free port of 127.0.0.1; yields its base URL."""
    FakeProviders.down = set()
    FakeProviders.requests = []
    FakeProviders.twilio_tokens = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProviders)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
