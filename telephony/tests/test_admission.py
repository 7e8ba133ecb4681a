"""Admission control at the carrier's edge: a caller over the tenant's cap hears "all our lines
are busy" from the voice webhook, a stream over the process's cap is handed the same message
through Twilio, and either way the Call is recorded as such ("lines_busy")."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from xml.etree import ElementTree

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client

from calls.models import Call, CallEvent, CallStatus
from calls.tests.line_stores import refused
from telephony import stream_token
from telephony.tests.fake_twilio import FakeTwilioRest
from telephony.tests.test_media_consumer import communicator, live_world, receive_until  # noqa: F401
from telephony.tests.test_webhooks import signed_post, voice_params
from telephony.twiml import LINES_BUSY_MESSAGE

VOICE = "/telephony/twilio/voice/"


def ring(client, world, n: int):
    """Twilio's voice webhook for a new caller `n` to the world's number: (TwiML root, Call)."""
    sid = f"CA{world.tenant.pk:04d}{n:028d}"
    params = voice_params(world, call_sid=sid)
    response = signed_post(client, VOICE, params, world.account.auth_token)
    assert response.status_code == 200
    return ElementTree.fromstring(response.content), Call.objects.get(twilio_call_sid=sid)


def connected(twiml) -> bool:
    return twiml.find("./Connect/Stream") is not None


def busy(twiml) -> bool:
    """The polite refusal: the message, then a hang-up, and no stream."""
    said = [say.text for say in twiml.findall("./Say")]
    return (
        said == [LINES_BUSY_MESSAGE]
        and [child.tag for child in twiml] == ["Say", "Hangup"]
        and not connected(twiml)
    )


def ended_event(call: Call) -> dict:
    (event,) = CallEvent.objects.filter(call=call, kind=CallEvent.Kind.ENDED)
    return event.data


# ---------------------------------------------------------------- the tenant's cap (the webhook)


@pytest.mark.django_db
def test_the_caller_over_the_tenants_cap_hears_the_lines_are_busy_and_is_recorded(
    client, world_a, line_store
):
    world_a.tenant.max_concurrent_calls = 2
    world_a.tenant.save()
    before = refused("tenant_cap", "voice_webhook")
    for n in (1, 2):
        twiml, call = ring(client, world_a, n)
        assert connected(twiml) and call.status == CallStatus.RINGING and call.admitted_at

    twiml, call = ring(client, world_a, 3)
    assert busy(twiml)
    assert call.status == CallStatus.COMPLETED and call.outcome == "lines_busy"
    assert call.admitted_at is None and call.ended_at is not None
    assert ended_event(call) == {"outcome": "lines_busy", "refused": "tenant_cap", "cap": 2}
    assert call.status_history[-1]["source"] == "admission: tenant_cap"
    assert refused("tenant_cap", "voice_webhook") == before + 1

    # Twilio repeats the webhook (a retry): the same answer, the same single Call.
    again, same = ring(client, world_a, 3)
    assert busy(again) and same.pk == call.pk
    # Its "completed" status callback afterwards changes nothing.
    signed_post(
        client,
        "/telephony/twilio/status/",
        voice_params(world_a, call_sid=call.twilio_call_sid) | {"CallStatus": "completed"},
        "token-a",
    )
    call.refresh_from_db()
    assert call.outcome == "lines_busy" and CallEvent.objects.filter(call=call).count() == 1


@pytest.mark.django_db
def test_a_freed_line_admits_the_next_caller(
    client, world_a, line_store, django_capture_on_commit_callbacks
):
    world_a.tenant.max_concurrent_calls = 1
    world_a.tenant.save()
    _, first = ring(client, world_a, 1)
    assert busy(ring(client, world_a, 2)[0])
    # The first caller hangs up while ringing: Twilio's status callback ends the Call.
    with django_capture_on_commit_callbacks(execute=True):
        signed_post(
            client,
            "/telephony/twilio/status/",
            voice_params(world_a, call_sid=first.twilio_call_sid) | {"CallStatus": "no-answer"},
            "token-a",
        )
    first.refresh_from_db()
    assert first.is_final
    twiml, call = ring(client, world_a, 3)
    assert connected(twiml) and call.admitted_at


@pytest.mark.django_db
def test_the_setting_caps_tenants_without_a_cap_of_their_own(
    client, world_a, world_b, line_store, settings
):
    settings.CALLS_PER_TENANT_MAX = 1
    world_b.tenant.max_concurrent_calls = 2
    world_b.tenant.save()
    assert connected(ring(client, world_a, 1)[0])
    assert busy(ring(client, world_a, 2)[0])
    assert connected(ring(client, world_b, 1)[0]) and connected(ring(client, world_b, 2)[0])
    assert busy(ring(client, world_b, 3)[0])


@pytest.mark.django_db
def test_two_tenants_do_not_share_a_cap(client, world_a, world_b, line_store):
    for world in (world_a, world_b):
        world.tenant.max_concurrent_calls = 1
        world.tenant.save()
    assert connected(ring(client, world_a, 1)[0])
    assert busy(ring(client, world_a, 2)[0])
    assert connected(ring(client, world_b, 1)[0])  # A's full lines are no concern of B's
    assert busy(ring(client, world_b, 2)[0])


@pytest.mark.django_db
def test_without_a_cap_every_caller_is_connected(client, world_a, line_store, settings):
    settings.CALLS_PER_TENANT_MAX = 0
    assert all(connected(ring(client, world_a, n)[0]) for n in range(5))


@pytest.mark.django_db(transaction=True)
def test_webhooks_racing_for_the_last_line_admit_exactly_one(world_a, line_store):
    world_a.tenant.max_concurrent_calls = 3
    world_a.tenant.save()
    for n in (1, 2):
        assert connected(ring(Client(), world_a, n)[0])
    racers = 10
    barrier = threading.Barrier(racers)
    answers: list = []

    def caller(n: int) -> None:
        try:
            barrier.wait()
            answers.append(ring(Client(), world_a, 100 + n)[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == racers
    assert sum(connected(a) for a in answers) == 1
    assert sum(busy(a) for a in answers) == racers - 1
    racing = Call.objects.filter(tenant=world_a.tenant, twilio_call_sid__contains="0" * 20)
    assert racing.filter(outcome="lines_busy").count() == racers - 1
    assert racing.filter(admitted_at__isnull=False).count() == 3


# ---------------------------------------------------------------- the process's cap (the stream)


def start_for(call: Call, world, stream: str) -> str:
    token = stream_token.issue(call.pk, world.account.account_sid)
    return json.dumps(
        {
            "event": "start",
            "streamSid": stream,
            "start": {
                "streamSid": stream,
                "accountSid": world.account.account_sid,
                "callSid": call.twilio_call_sid,
                "tracks": ["inbound"],
                "customParameters": {"call_id": str(call.pk), "token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


@database_sync_to_async
def another_call(world, n: int) -> Call:
    return Call.objects.create(
        tenant=world.tenant,
        agent=world.agent,
        direction=Call.Direction.INBOUND,
        from_number="+14155559999",
        to_number=world.number.number,
        twilio_call_sid=f"CA{n:032d}",
        twilio_account_sid=world.account.account_sid,
        status=CallStatus.RINGING,
    )


async def redirects_to(call_sid: str, timeout: float = 5.0) -> list[str]:
    """The TwiML Twilio was asked to run instead on `call_sid` (rest.redirect), once it was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            form["Twiml"][0]
            for path, form in FakeTwilioRest.requests
            if path.endswith(f"/Calls/{call_sid}.json") and "Twiml" in form
        ]
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


@pytest.mark.django_db(transaction=True)
async def test_a_stream_over_the_process_cap_hears_the_lines_are_busy_and_is_recorded(
    live_world,  # noqa: F811
    settings,
    twilio_rest,
):
    settings.CALLS_PER_PROCESS_MAX = 1
    settings.TWILIO_API_BASE_URL = twilio_rest
    settings.REDIS_URL = ""  # the busy message's job runs here, in a thread
    FakeTwilioRest.requests.clear()
    before = refused("process_cap", "stream")
    first = communicator()
    assert (await first.connect())[0]
    await first.send_to(text_data=start_for(live_world.call, live_world, "MZ" + "1" * 32))
    await receive_until(first, lambda m: m.get("event") == "mark")  # greeted: it is live

    over = await another_call(live_world, 2)
    second = communicator()
    assert (await second.connect())[0]
    await second.send_to(text_data=start_for(over, live_world, "MZ" + "2" * 32))
    # Twilio is asked to say the busy message instead of the stream, and the call is recorded.
    (twiml,) = await redirects_to(over.twilio_call_sid)
    root = ElementTree.fromstring(twiml)
    assert [say.text for say in root.findall("./Say")] == [LINES_BUSY_MESSAGE]
    assert root.find("./Hangup") is not None
    await over.arefresh_from_db()
    assert over.status == CallStatus.COMPLETED and over.outcome == "lines_busy"
    event = await CallEvent.objects.aget(call=over, kind=CallEvent.Kind.ENDED)
    assert event.data == {"outcome": "lines_busy", "refused": "process_cap", "cap": 1}
    assert not await CallEvent.objects.filter(call=over, kind="started").aexists()
    assert refused("process_cap", "stream") == before + 1
    # The stream stays open (closing it would hang up on the caller before the words) until
    # Twilio, running the new TwiML, stops it; the frames it sends meanwhile are ignored.
    assert await second.receive_nothing(timeout=0.3)
    await second.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    closed = await receive_until(second, lambda m: m.get("event") == "__close__")
    assert closed[-1]["code"] == 1000
    await second.disconnect()

    # The first call ends: its room admits the next call.
    await first.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(first, lambda m: m.get("event") == "__close__")
    await first.disconnect()
    following = await another_call(live_world, 3)
    third = communicator()
    assert (await third.connect())[0]
    await third.send_to(text_data=start_for(following, live_world, "MZ" + "3" * 32))
    await receive_until(third, lambda m: m.get("event") == "mark")
    await following.arefresh_from_db()
    assert following.status == CallStatus.IN_PROGRESS
    await third.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(third, lambda m: m.get("event") == "__close__")
    await third.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_refused_stream_closes_by_itself_when_twilio_never_takes_it_over(
    live_world,  # noqa: F811
    settings,
    monkeypatch,
):
    settings.CALLS_PER_PROCESS_MAX = 1
    monkeypatch.setattr("telephony.media_stream.BUSY_CLOSE_SECONDS", 0.5)
    monkeypatch.setattr("telephony.media_stream.request_lines_busy", lambda call_id: None)
    first = communicator()
    assert (await first.connect())[0]
    await first.send_to(text_data=start_for(live_world.call, live_world, "MZ" + "1" * 32))
    await receive_until(first, lambda m: m.get("event") == "mark")
    over = await another_call(live_world, 2)
    second = communicator()
    assert (await second.connect())[0]
    await second.send_to(text_data=start_for(over, live_world, "MZ" + "2" * 32))
    closed = await receive_until(second, lambda m: m.get("event") == "__close__", timeout=3)
    assert closed[-1]["code"] == 1000  # then the TwiML after <Connect> hangs up
    await over.arefresh_from_db()
    assert over.outcome == "lines_busy"
    await second.disconnect()
    await first.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(first, lambda m: m.get("event") == "__close__")
    await first.disconnect()
