"""The sandbox carrier's REST side, met by the real Twilio SDK: texts recorded and answered
as Twilio does; an unanswered call gets its signed status callbacks."""

from __future__ import annotations

import pytest

from calls.models import CallStatus
from telephony.outbound import place_call
from telephony.sandbox import Callee, Sandbox
from telephony.texts import queue_text, send_text


@pytest.fixture
def sandbox(world_a, settings, live_server):
    box = Sandbox(
        server=live_server.url,
        public_base_url=settings.PUBLIC_BASE_URL,
        tokens={world_a.account.account_sid: world_a.account.auth_token},
        ring_seconds=0,
    )
    settings.TWILIO_API_BASE_URL = box.start()
    yield box
    box.stop()


@pytest.mark.django_db(transaction=True)
def test_texts_are_recorded_and_a_busy_callee_posts_signed_callbacks(world_a, sandbox):
    text = queue_text(tenant_id=world_a.tenant.pk, to="+12125550188", body="Hi!", key="k1")
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == "queued" and text.twilio_sid == sandbox.texts[0]["sid"]
    assert sandbox.texts[0]["Body"] == "Hi!" and sandbox.texts[0]["To"] == "+12125550188"

    sandbox.callees["+12125550189"] = Callee(answer="busy")
    call = place_call(
        agent=world_a.agent, to_number="+12125550189", from_number=world_a.number.number
    )
    from telephony.jobs import dial_call

    dial_call(call.pk)
    (placed,) = sandbox.wait(1, timeout=20)
    assert placed.error == "" and placed.statuses == ["ringing", "busy"]
    call.refresh_from_db()
    assert call.status == CallStatus.BUSY  # the server accepted the signed callbacks
