"""Campaigns for the dialer's tests: a tenant's agent that discloses, a list of contacts."""

from __future__ import annotations

import datetime
import itertools
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from campaigns.models import Campaign, Contact, ContactList

_numbers = itertools.count(1)


def phone(n: int | None = None) -> str:
    """A valid North American number, distinct from the others made here."""
    return f"+1201234{(next(_numbers) if n is None else n) % 10000:04d}"


def make_campaign(world, contacts: int = 3, name: str = "Spring", **fields) -> Campaign:
    agent = world.agent
    if "{disclosure}" not in agent.greeting:
        agent.greeting = "Hi {first_name}. {disclosure}"
        agent.save()
    contact_list = ContactList.objects.create(tenant=world.tenant, name=f"{name} list")
    rows = [
        Contact.objects.create(
            tenant=world.tenant,
            phone=phone(),
            name=f"Person{i} Test",
            time_zone=midday_zone(),
        )
        for i in range(contacts)
    ]
    contact_list.contacts.add(*rows)
    return Campaign.objects.create(
        tenant=world.tenant,
        name=name,
        agent=agent,
        contact_list=contact_list,
        caller_id=world.number,
        **fields,
    )


# ---------------------------------------------------------------- time and the carrier


def midday_zone(now: datetime.datetime | None = None) -> str:
    """A fixed-offset zone where it is now about noon (inside any 9-18 window)."""
    hour = (now or datetime.datetime.now(datetime.UTC)).hour
    offset = 12 - hour  # UTC+offset; Etc/GMT's sign is inverted (POSIX)
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


class FakeCarrier(BaseHTTPRequestHandler):
    """Twilio's REST API as the dialer meets it: each call request gets its own CallSid;
    `fail_next` call requests are refused (Twilio error 21215, as for a blocked number)."""

    dials: list[dict] = []
    fail_next = 0
    _lock = threading.Lock()
    _sids = itertools.count(1)

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        status, answer = 200, {"sid": "CA0", "status": "completed"}
        if self.path.endswith("/Calls.json"):
            with FakeCarrier._lock:
                FakeCarrier.dials.append(form)
                failing = FakeCarrier.fail_next > 0
                FakeCarrier.fail_next -= failing
                sid = f"CA{next(FakeCarrier._sids):032x}"
            if failing:
                status, answer = 400, {"code": 21215, "message": "Geo permission", "status": 400}
            else:
                status, answer = 201, {"sid": sid, "status": "queued", "to": form["To"][0]}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args):
        pass

    @classmethod
    def dialled(cls) -> Counter:
        return Counter(form["To"][0] for form in cls.dials)


def serve_carrier() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCarrier)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def _carrier_server():
    server, url = serve_carrier()
    yield url
    server.shutdown()


@pytest.fixture
def carrier(settings, _carrier_server):
    """The fake Twilio, reset; settings point the SDK at it."""
    settings.TWILIO_API_BASE_URL = _carrier_server
    FakeCarrier.dials.clear()
    FakeCarrier.fail_next = 0
    return FakeCarrier


def dialled_attempt(world, campaign, capture):
    """Start `campaign`, claim and dial its first due attempt through the fake carrier."""
    from campaigns.actions import start_campaign
    from campaigns.dialer import dial_attempt, schedule_pass
    from campaigns.models import Attempt

    campaign.refresh_from_db()
    if campaign.status == "draft":
        start_campaign(campaign.pk, by="test")
    with capture(execute=True):
        claimed = schedule_pass().claimed
        dial_attempt(claimed[0])
    return Attempt.objects.select_related("call").get(pk=claimed[0])


def twilio_says(client, world, call, path: str = "/telephony/twilio/status/", **params):
    """A signed webhook from Twilio about `call` (its status callback by default)."""
    from telephony.tests.test_webhooks import signed_post

    base = {
        "AccountSid": world.account.account_sid,
        "CallSid": call.twilio_call_sid,
        "From": call.from_number,
        "To": call.to_number,
        "Direction": "outbound-api",
    }
    response = signed_post(client, path, base | params, world.account.auth_token)
    assert response.status_code == 200
    return response
