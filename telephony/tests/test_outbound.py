"""Calls we place: dialling through Twilio (once), the TwiML when the callee answers, the
answering-machine verdict webhook, and an outbound session that waits before it speaks."""

from __future__ import annotations

import asyncio
import json
import re

import django_rq
import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError

from calls.models import Call, CallEvent, CallStatus, Turn
from calls.signals import call_ended
from telephony import stream_token
from telephony.jobs import dial_call
from telephony.outbound import place_call
from telephony.tests.fake_twilio import FakeTwilioRest
from telephony.tests.test_media_consumer import (  # noqa: F401 (fixtures)
    _fresh_token_cache,
    communicator,
    live_world,
    media,
    receive_until,
)
from telephony.tests.test_webhooks import signed_post

CALLEE = "+442079460018"
AMD_PATH = "/telephony/twilio/amd/"


def outbound_call(world, **variables) -> Call:
    return place_call(
        agent=world.agent,
        to_number=CALLEE,
        from_number=world.number.number,
        variables=variables or {"first_name": "Ada"},
    )


@pytest.fixture
def rest(settings, twilio_rest):
    settings.TWILIO_API_BASE_URL = twilio_rest
    FakeTwilioRest.requests.clear()
    return FakeTwilioRest.requests


def dials(requests) -> list[dict]:
    return [body for path, body in requests if path.endswith("/Calls.json")]


# ---------------------------------------------------------------- dialling


@pytest.mark.django_db
def test_placing_a_call_queues_one_dial_job_after_the_commit(
    world_a, django_capture_on_commit_callbacks
):
    queue = django_rq.get_queue("telephony")
    with django_capture_on_commit_callbacks(execute=True):
        call = outbound_call(world_a)
        assert queue.fetch_job(f"dial-{call.pk}") is None  # not before the commit
    job = queue.fetch_job(f"dial-{call.pk}")
    assert job.func is dial_call and job.args == (call.pk,)
    job.delete()


@pytest.mark.django_db
def test_a_call_missing_a_variable_is_not_placed(world_a):
    world_a.agent.greeting = "Hi {first_name}!"
    world_a.agent.save()
    with pytest.raises(ValidationError, match="first_name"):
        place_call(agent=world_a.agent, to_number=CALLEE, from_number=world_a.number.number)
    assert not Call.objects.filter(direction="outbound").exists()


@pytest.mark.django_db
def test_the_dial_job_dials_once_even_when_run_twice(world_a, rest):
    call = outbound_call(world_a)
    dial_call(call.pk)
    dial_call(call.pk)
    (body,) = dials(rest)
    assert body["To"] == [CALLEE] and body["From"] == [world_a.number.number]
    assert body["Url"] == [f"https://voice.example.test/telephony/twilio/outbound/{call.pk}/"]
    assert body["StatusCallback"] == ["https://voice.example.test/telephony/twilio/status/"]
    assert "MachineDetection" not in body  # the agent waits for "Hello?", not for a verdict
    call.refresh_from_db()
    assert call.status == CallStatus.INITIATED and call.twilio_call_sid == "CA0"
    assert call.twilio_account_sid == world_a.account.account_sid
    assert [h["status"] for h in call.status_history] == ["queued", "initiated"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "voicemail, detection", [("", "Enable"), ("Call us back!", "DetectMessageEnd")]
)
def test_an_agent_waiting_for_the_verdict_asks_for_async_amd(world_a, rest, voicemail, detection):
    world_a.agent.outbound_first_speaker = "machine_verdict"
    world_a.agent.voicemail_message = voicemail
    world_a.agent.save()
    dial_call(outbound_call(world_a).pk)
    (body,) = dials(rest)
    assert body["MachineDetection"] == [detection] and body["AsyncAmd"] == ["true"]
    assert body["AsyncAmdStatusCallback"] == ["https://voice.example.test" + AMD_PATH]


@pytest.mark.django_db
def test_a_dial_check_refuses_or_shapes_every_dial(world_a, rest):
    from telephony import dialing

    def check(call):
        if call.to_number == CALLEE:
            return dialing.DialPlan(refused="on the do-not-call list", outcome="do_not_call")
        return dialing.DialPlan(ring_seconds=20, machine_detection="DetectMessageEnd")

    dialing.before_dial(check)
    try:
        refused = outbound_call(world_a)
        dial_call(refused.pk)
        allowed = place_call(
            agent=world_a.agent,
            to_number="+14155550177",
            from_number=world_a.number.number,
            variables={"first_name": "Bo"},
        )
        dial_call(allowed.pk)
    finally:
        dialing.unregister(check)
    refused.refresh_from_db()
    assert refused.status == CallStatus.FAILED and refused.outcome == "do_not_call"
    (body,) = dials(rest)  # only the allowed one reached Twilio
    assert body["To"] == ["+14155550177"] and body["Timeout"] == ["20"]
    assert body["MachineDetection"] == ["DetectMessageEnd"]


@pytest.mark.django_db
def test_a_dial_check_that_fails_refuses_the_dial(world_a, rest):
    from telephony import dialing

    def broken(call):
        raise RuntimeError("database away")

    dialing.before_dial(broken)
    try:
        call = outbound_call(world_a)
        dial_call(call.pk)
    finally:
        dialing.unregister(broken)
    call.refresh_from_db()
    assert call.status == CallStatus.FAILED and not dials(rest)


@pytest.mark.django_db
def test_a_call_from_a_number_the_tenant_does_not_own_fails_without_dialling(
    world_a, world_b, rest
):
    call = outbound_call(world_a)
    Call.objects.filter(pk=call.pk).update(from_number=world_b.number.number)
    dial_call(call.pk)
    assert dials(rest) == []
    call.refresh_from_db()
    assert call.status == CallStatus.FAILED and call.outcome == "dial_failed"
    assert "not one of the tenant's numbers" in call.events.get(kind="ended").data["reason"]


# ---------------------------------------------------------------- Twilio's requests


def answered_params(world, call_sid="CA" + "4" * 32):
    return {
        "AccountSid": world.account.account_sid,
        "CallSid": call_sid,
        "From": world.number.number,
        "To": CALLEE,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
    }


@pytest.mark.django_db
def test_the_answered_call_is_connected_to_the_media_stream(client, world_a):
    call = outbound_call(world_a)
    path = f"/telephony/twilio/outbound/{call.pk}/"
    assert signed_post(client, path, answered_params(world_a), "token-b").status_code == 403
    response = signed_post(client, path, answered_params(world_a), "token-a")
    body = response.content.decode()
    assert '<Stream url="wss://voice.example.test/telephony/twilio/media/">' in body
    grant = stream_token.verify(re.search(r'name="token" value="([^"]+)"', body).group(1))
    assert grant.call_id == call.pk
    call.refresh_from_db()
    assert call.twilio_call_sid == "CA" + "4" * 32  # before the dial job saved it: taken here
    # Another CallSid for the same call is not connected.
    other = signed_post(client, path, answered_params(world_a, "CA" + "5" * 32), "token-a")
    assert b"<Stream" not in other.content and b"<Hangup" in other.content


@pytest.mark.django_db
def test_another_tenant_cannot_connect_a_call(client, world_a, world_b):
    call = outbound_call(world_a)
    params = answered_params(world_b)
    response = signed_post(client, f"/telephony/twilio/outbound/{call.pk}/", params, "token-b")
    assert b"<Stream" not in response.content
    assert Call.objects.get(pk=call.pk).twilio_call_sid is None


def amd_params(world, call_sid, answered_by="human"):
    return {
        "AccountSid": world.account.account_sid,
        "CallSid": call_sid,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": "2400",
    }


@pytest.mark.django_db
def test_the_verdict_is_recorded_once_and_sent_to_the_session(
    client, world_a, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "telephony.outbound.send_control_sync", lambda *a, **kw: sent.append((a, kw))
    )
    call = outbound_call(world_a)
    Call.objects.filter(pk=call.pk).update(twilio_call_sid="CA" + "4" * 32)
    params = amd_params(world_a, "CA" + "4" * 32, "machine_end_beep")
    assert signed_post(client, AMD_PATH, params, "not-the-token").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # Twilio retries
            assert signed_post(client, AMD_PATH, params, "token-a").status_code == 200
    events = list(CallEvent.objects.filter(call=call, kind="amd").values_list("data", flat=True))
    assert events == [{"answered_by": "machine_end_beep", "detection_ms": "2400"}]
    assert sent == [((call.pk, "amd"), {"answered_by": "machine_end_beep"})]
    # An unknown verdict or call changes nothing, and still gets 200 (no retries).
    strange = amd_params(world_a, "CA" + "4" * 32, "robot")
    assert signed_post(client, AMD_PATH, strange, "token-a").status_code == 200
    unknown = amd_params(world_a, "CA" + "8" * 32)
    assert signed_post(client, AMD_PATH, unknown, "token-a").status_code == 200
    assert CallEvent.objects.filter(kind="amd").count() == 1 and len(sent) == 1


@pytest.mark.django_db
def test_a_busy_callee_ends_the_call_with_call_ended(
    client, world_a, django_capture_on_commit_callbacks
):
    ended = []
    receiver = lambda sender, **kw: ended.append((kw["call_id"], kw["outcome"]))  # noqa: E731
    call_ended.connect(receiver)
    call = outbound_call(world_a)
    Call.objects.filter(pk=call.pk).update(twilio_call_sid="CA" + "4" * 32)
    params = answered_params(world_a) | {"CallStatus": "busy"}
    try:
        with django_capture_on_commit_callbacks(execute=True):
            signed_post(client, "/telephony/twilio/status/", params, "token-a")
    finally:
        call_ended.disconnect(receiver)
    call.refresh_from_db()
    assert call.status == "busy" and call.outcome == "busy" and ended == [(call.pk, "busy")]


# ---------------------------------------------------------------- the live outbound call


@pytest.fixture
def outbound_world(request):
    world = request.getfixturevalue("live_world")  # test_media_consumer's, imported above
    agent = world.agent
    agent.greeting = "Hi {first_name}."
    agent.outbound_first_speaker = "machine_verdict"
    agent.save()
    call = outbound_call(world)
    Call.objects.filter(pk=call.pk).update(
        twilio_call_sid="CA" + "4" * 32,
        twilio_account_sid=world.account.account_sid,
        status=CallStatus.RINGING,
    )
    return world, Call.objects.get(pk=call.pk)


def outbound_start(world, call) -> str:
    token = stream_token.issue(call.pk, world.account.account_sid)
    return json.dumps(
        {
            "event": "start",
            "streamSid": "MZ" + "4" * 32,
            "start": {
                "streamSid": "MZ" + "4" * 32,
                "accountSid": world.account.account_sid,
                "callSid": call.twilio_call_sid,
                "tracks": ["inbound"],
                "customParameters": {"call_id": str(call.pk), "token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


async def agent_lines(call_id) -> list[str]:
    rows = Turn.objects.filter(call_id=call_id, speaker="agent").order_by("index")
    return await database_sync_to_async(list)(rows.values_list("text", flat=True))


async def greeted_after_the_verdict(comm, client, world, call, *, verdict_first: bool):
    post = database_sync_to_async(signed_post)
    params = amd_params(world, call.twilio_call_sid, "human")
    if verdict_first:  # the verdict lands before the stream has even started
        assert (await post(client, AMD_PATH, params, "token-a")).status_code == 200
    assert (await comm.connect())[0]
    await comm.send_to(text_data=outbound_start(world, call))
    if not verdict_first:
        for n in range(5):  # the stream is live: the callee's line is quiet
            await comm.send_to(text_data=media(n=n))
        await until_stream_claimed(call.pk)
        assert (await post(client, AMD_PATH, params, "token-a")).status_code == 200
    seen = await receive_until(comm, lambda m: m.get("event") == "mark", timeout=10)
    assert seen[0]["event"] == "media"
    await comm.send_to(text_data=json.dumps({"event": "mark", "mark": seen[-1]["mark"]}))
    await comm.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(comm, lambda m: m.get("event") == "__close__")
    await comm.disconnect()
    assert await agent_lines(call.pk) == ["Hi Ada."]
    # The greeting's first audio went out after the verdict came in, not at once.
    greeting = await database_sync_to_async(Turn.objects.get)(call_id=call.pk, speaker="agent")
    verdict = await database_sync_to_async(CallEvent.objects.get)(call_id=call.pk, kind="amd")
    assert greeting.started_at > verdict.at


async def until_stream_claimed(call_id) -> None:
    """The session is being set up: its stream holds the call and it is in progress."""
    while True:
        call = await database_sync_to_async(Call.objects.get)(pk=call_id)
        if call.stream_sid and call.status == CallStatus.IN_PROGRESS:
            return
        await asyncio.sleep(0.02)


@pytest.mark.django_db(transaction=True)
async def test_an_outbound_session_waits_for_the_verdict_then_greets(outbound_world, client):
    world, call = outbound_world
    await greeted_after_the_verdict(communicator(), client, world, call, verdict_first=False)


@pytest.mark.django_db(transaction=True)
async def test_a_verdict_before_the_stream_is_not_lost(outbound_world, client):
    world, call = outbound_world
    await greeted_after_the_verdict(communicator(), client, world, call, verdict_first=True)
