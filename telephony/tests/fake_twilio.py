"""A local stand-in for Twilio's REST API: it records each request and answers as Twilio does."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs


def twilio_error(status: int, code: int, message: str) -> tuple[int, dict]:
    """A reply in Twilio's error format, for `FakeTwilioRest.replies`."""
    return status, {"code": code, "message": message, "more_info": "", "status": status}


class FakeTwilioRest(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict]] = []
    # Scripted replies, (status, JSON body), used in order before the usual answer.
    replies: list[tuple[int, dict]] = []
    _message_sids = itertools.count(1)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        form = parse_qs(body)
        FakeTwilioRest.requests.append((self.path, form))
        if FakeTwilioRest.replies:
            status, answer = FakeTwilioRest.replies.pop(0)
        elif self.path.endswith("/Messages.json"):
            sid = f"SM{next(FakeTwilioRest._message_sids):032x}"
            status, answer = 201, {"sid": sid, "status": "queued", "to": form["To"][0]}
        else:
            status, answer = 200, {"sid": "CA0", "status": "completed"}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args):
        pass


@contextmanager
def serving() -> Iterator[str]:
    """Run the fake on a free port of 127.0.0.1; yields its base URL."""
    server = HTTPServer(("127.0.0.1", 0), FakeTwilioRest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
