"""A whole campaign against a carrier that behaves like Twilio (telephony.sandbox): a real
server with the offline providers, the dialer's passes run here, the callees answering over the
media stream (or not), the outcomes recorded and delivered to the tenant's webhook, the retry
scheduled and dialled, the campaign completed; and the automatic pause when calls fail."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from campaigns.actions import start_campaign
from campaigns.dialer import dial_attempt, schedule_pass
from campaigns.models import (
    Attempt,
    AttemptResult,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Contact,
    ContactList,
    DoNotCall,
    TenantDialing,
)
from campaigns.tests.dialer_world import midday_zone
from telephony.sandbox import Callee, Sandbox
from telephony.tests.test_end_to_end import ROOT, server_env, start_server
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS = ["record_outcome", "schedule_callback", "transfer_to_human", "do_not_call", "end_call"]


class Receiver(BaseHTTPRequestHandler):
    posts: list[tuple[dict, dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.posts.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver():
    Receiver.posts.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.fixture
def carrier_and_server(world_a, settings):
    """The sandbox carrier and a server process pointed at it; the test dials through it too."""
    sandbox = Sandbox(
        server="http://127.0.0.1:1",  # set below, once the server listens
        public_base_url=settings.PUBLIC_BASE_URL,
        tokens={world_a.account.account_sid: world_a.account.auth_token},
    )
    carrier = sandbox.start()
    settings.TWILIO_API_BASE_URL = carrier
    env = server_env(carrier)
    with start_server(env) as (_, url):
        sandbox.server = url
        yield sandbox, env
    sandbox.stop()


def campaign_of(world, phones: list[str], **fields) -> Campaign:
    agent = world.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "local_whisper",
        "scripted",
        "piper",
    )
    agent.tts_fallback = "espeak"
    agent.tools = TOOLS
    agent.greeting = "Hi {first_name}. {disclosure}"
    agent.outbound_first_speaker = "agent"
    agent.save()
    people = ContactList.objects.create(tenant=world.tenant, name="Leads")
    zone = midday_zone()
    for n, phone in enumerate(phones):
        people.contacts.add(
            Contact.objects.create(
                tenant=world.tenant, phone=phone, name=f"Person{n} Test", time_zone=zone
            )
        )
    return Campaign.objects.create(
        tenant=world.tenant,
        name="Spring",
        agent=agent,
        contact_list=people,
        caller_id=world.number,
        **fields,
    )


def dial_due() -> list[int]:
    """One scheduler pass, and its dial jobs run here (their rq copies find them taken)."""
    claimed = schedule_pass().claimed
    for attempt_id in claimed:
        dial_attempt(attempt_id)
    return claimed


def run_workers(env: dict[str, str]) -> None:
    worker = subprocess.run(
        [sys.executable, "manage.py", "rqworker", "default", "telephony", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=90,
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]


def settled(query, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while query.filter(status__in=["claimed", "dialing", "ringing", "in_progress"]).exists():
        assert time.monotonic() < deadline, list(query.values("pk", "status", "result"))
        time.sleep(0.2)


ADA, BOB, CY = "+12025550141", "+12025550142", "+12025550143"


def test_a_whole_campaign(world_a, carrier_and_server, webhook_receiver):
    sandbox, env = carrier_and_server
    sandbox.callees = {
        ADA: Callee(lines=["Yes, I am interested."]),
        BOB: Callee(answer="no-answer"),
        CY: Callee(lines=["Please don't call me again."]),
    }
    WebhookEndpoint.objects.create(tenant=world_a.tenant, url=webhook_receiver, secret="s" * 24)
    campaign = campaign_of(
        world_a,
        [ADA, BOB, CY],
        max_concurrent_calls=3,
        max_attempts=2,
        retry_no_answer_minutes=1,
        outcome_fields=["interested"],
    )
    start_campaign(campaign.pk, by="test")

    assert len(dial_due()) == 3
    calls = sandbox.wait(3, timeout=90)
    assert [c.error for c in calls] == ["", "", ""]
    attempts = Attempt.objects.filter(campaign=campaign)
    settled(attempts)
    run_workers(env)  # outcomes filled and delivered, hang-ups, the rq copies of the dials

    ada = Attempt.objects.select_related("call").get(contact__phone=ADA, number=1)
    assert ada.result == AttemptResult.HUMAN and ada.outcome == "interested"
    assert ada.call.status == "completed" and ada.call.turns.filter(speaker="caller").exists()
    assert "interested" in " ".join(ada.call.turns.values_list("text", flat=True)).lower()
    cy = Attempt.objects.get(contact__phone=CY, number=1)
    assert cy.result == AttemptResult.HUMAN  # answered; the number listed during the call
    listed = DoNotCall.objects.get(tenant=world_a.tenant, phone=CY)
    assert listed.source == DoNotCall.Source.CALL and listed.call_id == cy.call_id
    bob = Attempt.objects.get(contact__phone=BOB, number=1)
    assert bob.result == AttemptResult.NO_ANSWER
    retry = Attempt.objects.get(contact__phone=BOB, number=2)
    assert retry.status == AttemptStatus.SCHEDULED
    assert 50 <= (retry.due_at - bob.ended_at).total_seconds() <= 70
    assert sorted(sandbox.calls[i].form["To"] for i in range(3)) == [ADA, BOB, CY]
    assert attempts.count() == 4 and len(sandbox.calls) == 3  # the rq copies dialled nobody again

    delivered = {body["data"]["contact"]["phone"]: (h, body) for h, body in Receiver.posts}
    assert ADA in delivered, Receiver.posts
    headers, body = delivered[ADA]
    assert body["data"]["attempt"]["outcome"] == "interested"
    assert any(k.lower().endswith("signature") for k in headers)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING  # Bob's retry is still to come
    Attempt.objects.filter(pk=retry.pk).update(due_at=timezone.now())
    assert dial_due() == [retry.pk]
    sandbox.wait(4, timeout=30)
    settled(attempts)
    retry.refresh_from_db()
    assert retry.result == AttemptResult.NO_ANSWER
    assert not Attempt.objects.filter(contact__phone=BOB, number=3).exists()  # max 2
    deadline = time.monotonic() + 10
    while campaign.status != CampaignStatus.COMPLETED and time.monotonic() < deadline:
        time.sleep(0.2)
        campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


def test_the_campaign_pauses_itself_when_calls_fail_at_the_carrier(world_a, carrier_and_server):
    sandbox, _ = carrier_and_server
    sandbox.default = Callee(answer="failed")
    TenantDialing.objects.create(tenant=world_a.tenant, max_concurrent_calls=10)
    phones = [f"+1202555{n:04d}" for n in range(150, 160)]
    campaign = campaign_of(world_a, phones, max_concurrent_calls=10)
    start_campaign(campaign.pk, by="test")
    assert len(dial_due()) == 10
    sandbox.wait(10, timeout=60)
    settled(Attempt.objects.filter(campaign=campaign))
    deadline = time.monotonic() + 10
    while campaign.status != CampaignStatus.PAUSED and time.monotonic() < deadline:
        time.sleep(0.2)
        campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "10 of the last 10 attempts failed" in campaign.status_reason
    assert all(c.statuses == ["ringing", "failed"] for c in sandbox.calls)
    assert dial_due() == []  # paused: the retries wait
