"""A local stand-in for Twilio's REST API: it records each request and answers as Twilio does."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs


class FakeTwilioRest(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        FakeTwilioRest.requests.append((self.path, parse_qs(body)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"sid": "CA0", "status": "completed"}')

    def log_message(self, *args):
        pass
