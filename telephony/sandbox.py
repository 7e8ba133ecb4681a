"""A local carrier that behaves like Twilio for the calls we place and the texts we send, so a
campaign runs with no Twilio account and no network (tests, `manage.py twilio_sandbox`).

On `POST .../Calls.json` it answers 201 with a CallSid, then, in a thread, plays the callee its
script names for the number: ringing, then no-answer / busy / failed, or an answer: it fetches
the call's `Url` (signed as Twilio signs), joins the media stream the TwiML names with the
simulated caller (telephony.simulator: it speaks the stream protocol), says the callee's lines,
posts the answering-machine verdict when detection was asked for, and the status callbacks
(ringing, in-progress, completed). `POST .../Messages.json` records the text and answers
queued. Call updates (hang-up, redirect) are recorded and answered 200.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

from calls.providers.http import client as http_client
from telephony.simulator import SimulatedCaller, speech

log = logging.getLogger(__name__)

CALLS = re.compile(r"/Accounts/(?P<account>AC\w+)/Calls\.json$")
MESSAGES = re.compile(r"/Accounts/(?P<account>AC\w+)/Messages\.json$")
ACCOUNT = re.compile(r"/Accounts/(?P<account>AC\w+)\.json$")
UNANSWERED = {"no-answer", "busy", "failed"}


@dataclass
class Callee:
    """How the person at a number behaves: `answer` is "human", or the carrier's no-answer,
    busy or failed; `lines` what they say after the agent speaks; `answered_by` the machine
    detection's verdict."""

    answer: str = "human"
    lines: list[str] = field(default_factory=lambda: ["Hello?"])
    answered_by: str = "human"


@dataclass
class PlacedCall:
    sid: str
    account_sid: str
    form: dict[str, str]
    statuses: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: str = ""


class _OutboundCallee(SimulatedCaller):
    """The simulated caller, answering a call we placed: its TwiML comes from the call's Url."""

    def __init__(self, *, answer_path: str, params: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.answer_path, self.params = answer_path, params
        self.call_sid = params["CallSid"]

    async def _voice_webhook(self):
        from xml.etree import ElementTree

        from telephony.simulator import CallRefused

        signature = self.validator.compute_signature(
            self.public_base_url + self.answer_path, self.params
        )
        async with http_client(timeout=10) as http:
            response = await http.post(
                self.server + self.answer_path,
                data=self.params,
                headers={"X-Twilio-Signature": signature},
            )
        stream = ElementTree.fromstring(response.text).find("./Connect/Stream")
        if response.status_code != 200 or stream is None:
            raise CallRefused(f"not connected: {response.status_code} {response.text[:300]}")
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        return stream.get("url"), parameters


class Sandbox:
    """The carrier (see the module's doc). `server` is where the project really listens,
    `public_base_url` the address it signs for (PUBLIC_BASE_URL), `tokens` each account's auth
    token, `callees` the script per number (others answer with `default`)."""

    def __init__(
        self,
        *,
        server: str,
        public_base_url: str,
        tokens: dict[str, str],
        callees: dict[str, Callee] | None = None,
        default: Callee | None = None,
        ring_seconds: float = 0.3,
    ) -> None:
        self.server, self.public_base_url = server.rstrip("/"), public_base_url.rstrip("/")
        self.tokens = tokens
        self.callees = callees or {}
        self.default = default or Callee()
        self.ring_seconds = ring_seconds
        self.calls: list[PlacedCall] = []
        self.texts: list[dict[str, str]] = []
        self.updates: list[tuple[str, dict[str, str]]] = []
        self._sids = itertools.count(1)
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

    # -- the REST API
    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:`port`; returns the base URL for TWILIO_API_BASE_URL."""
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, answer = sandbox._answer(self.path, form)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(answer).encode())

            def do_GET(self):
                # Fetching an account (the provider health check): known accounts are active.
                match = ACCOUNT.search(self.path)
                found = match is not None and match["account"] in sandbox.tokens
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                answer = {"sid": match["account"], "status": "active"} if found else {}
                self.wfile.write(json.dumps(answer).encode())

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._http.server_port}"

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def _answer(self, path: str, form: dict[str, str]) -> tuple[int, dict]:
        if match := CALLS.search(path):
            with self._lock:
                sid = f"CA{next(self._sids):032x}"
                placed = PlacedCall(sid, match["account"], form)
                self.calls.append(placed)
            threading.Thread(target=self._play, args=(placed,), daemon=True).start()
            return 201, {"sid": sid, "status": "queued", "to": form.get("To", "")}
        if MESSAGES.search(path):
            with self._lock:
                sid = f"SM{next(self._sids):032x}"
                self.texts.append({"sid": sid, **form})
            return 201, {"sid": sid, "status": "queued", "to": form.get("To", "")}
        with self._lock:
            self.updates.append((path, form))
        return 200, {"sid": path.rsplit("/", 1)[-1].removesuffix(".json"), "status": "completed"}

    # -- the callee
    def _play(self, placed: PlacedCall) -> None:
        try:
            asyncio.run(self._call(placed))
        except Exception as exc:  # recorded for the test or the operator, never raised
            placed.error = f"{type(exc).__name__}: {exc}"
            log.exception("sandbox call %s failed", placed.sid)
        finally:
            placed.done.set()

    async def _post(self, placed: PlacedCall, url: str, **params: str) -> None:
        if not url:
            return
        form = placed.form
        base = {
            "AccountSid": placed.account_sid,
            "CallSid": placed.sid,
            "From": form.get("From", ""),
            "To": form.get("To", ""),
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }
        data = base | params
        path = urlsplit(url)
        path = path.path + (f"?{path.query}" if path.query else "")
        token = self.tokens.get(placed.account_sid, "")
        signature = RequestValidator(token).compute_signature(self.public_base_url + path, data)
        async with http_client(timeout=10) as http:
            await http.post(
                self.server + path, data=data, headers={"X-Twilio-Signature": signature}
            )
        if "CallStatus" in params:
            placed.statuses.append(params["CallStatus"])

    async def _call(self, placed: PlacedCall) -> None:
        form = placed.form
        callee = self.callees.get(form.get("To", ""), self.default)
        status_url = form.get("StatusCallback", "")
        await self._post(placed, status_url, CallStatus="ringing")
        await asyncio.sleep(self.ring_seconds)
        if callee.answer in UNANSWERED:
            await self._post(placed, status_url, CallStatus=callee.answer, CallDuration="0")
            return
        await self._post(placed, status_url, CallStatus="in-progress")
        started = time.monotonic()
        answer_url = urlsplit(form["Url"])
        params = {
            "AccountSid": placed.account_sid,
            "CallSid": placed.sid,
            "From": form.get("From", ""),
            "To": form.get("To", ""),
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }
        person = _OutboundCallee(
            answer_path=answer_url.path,
            params=params,
            server=self.server,
            public_base_url=self.public_base_url,
            auth_token=self.tokens.get(placed.account_sid, ""),
            account_sid=placed.account_sid,
            to_number=form.get("From", ""),
            from_number=form.get("To", ""),
        )
        verdict = None
        if form.get("MachineDetection"):
            verdict = asyncio.create_task(self._verdict(placed, callee))
        await person.run([speech(line) for line in callee.lines])
        if verdict is not None:
            await verdict
        duration = str(int(time.monotonic() - started))
        await self._post(placed, status_url, CallStatus="completed", CallDuration=duration)

    async def _verdict(self, placed: PlacedCall, callee: Callee) -> None:
        await asyncio.sleep(0.5)
        await self._post(
            placed,
            placed.form.get("AsyncAmdStatusCallback", ""),
            AnsweredBy=callee.answered_by,
            MachineDetectionDuration="500",
        )

    def wait(self, count: int, timeout: float = 60.0) -> list[PlacedCall]:
        """Until `count` calls were placed and each played to its end; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                calls = list(self.calls)
            if len(calls) >= count and all(c.done.is_set() for c in calls):
                return calls
            time.sleep(0.1)
        raise TimeoutError(f"{len(self.calls)} calls placed, not all done, in {timeout} s")
