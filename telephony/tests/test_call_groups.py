"""A Channels group per call: a webhook or a staff member reaches the live session from any
process (the in-memory layer in one process, the Redis layer across processes)."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from calls.control import send_control
from calls.models import Call, CallStatus, Turn
from telephony.tests.test_media_consumer import (  # noqa: F401 (fixtures)
    _fresh_token_cache,
    call_state,
    communicator,
    live_world,
    receive_until,
    start_message,
)

REDIS_LAYER = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [django_settings.REDIS_URL]},
    }
}


@pytest.fixture
def live(request):
    """test_media_consumer's live_world (imported above): a call ready to stream."""
    return request.getfixturevalue("live_world")


async def echo_marks_until_quiet(comm, predicate) -> list[dict]:
    """Play the agent's audio (echo its marks) until `predicate` holds for a message."""
    seen: list[dict] = []
    while True:
        batch = await receive_until(
            comm, lambda m: m.get("event") in ("mark", "__close__") or predicate(m), timeout=10
        )
        seen += batch
        last = batch[-1]
        if predicate(last):
            return seen
        if last["event"] == "mark":
            await comm.send_to(text_data=json.dumps({"event": "mark", "mark": last["mark"]}))


async def live_call(world):
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(world))
    greeting = await receive_until(comm, lambda m: m.get("event") == "mark")
    await comm.send_to(text_data=json.dumps({"event": "mark", "mark": greeting[-1]["mark"]}))
    return comm


async def agent_lines(call_id) -> list[str]:
    rows = Turn.objects.filter(call_id=call_id, speaker="agent").order_by("index")
    return await database_sync_to_async(list)(rows.values_list("text", flat=True))


async def hang_up_through_the_group(world, monkeypatch) -> None:
    hangups = []
    monkeypatch.setattr("telephony.media_stream.request_hang_up", hangups.append)
    comm = await live_call(world)
    await send_control(world.call.pk, "hang_up", outcome="staff_hung_up")
    closed = await receive_until(comm, lambda m: m.get("event") == "__close__", timeout=10)
    await comm.disconnect()
    assert closed[-1]["code"] == 1000 and hangups == [world.call.pk]
    status, outcome, _, _ = await call_state(world.call.pk)
    assert status == CallStatus.COMPLETED and outcome == "staff_hung_up"


@pytest.mark.django_db(transaction=True)
async def test_say_through_the_group_makes_the_agent_speak(live):
    comm = await live_call(live)
    await send_control(live.call.pk, "say", text="Your table is ready.")
    seen = await echo_marks_until_quiet(comm, lambda m: m.get("event") == "mark")
    assert "media" in [m["event"] for m in seen]
    await comm.send_to(text_data=json.dumps({"event": "mark", "mark": seen[-1]["mark"]}))
    await comm.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(comm, lambda m: m.get("event") == "__close__")
    await comm.disconnect()
    assert (await agent_lines(live.call.pk))[-1] == "Your table is ready."


@pytest.mark.django_db(transaction=True)
async def test_hang_up_through_the_group_ends_the_call(live, monkeypatch):
    await hang_up_through_the_group(live, monkeypatch)


@pytest.mark.django_db(transaction=True)
async def test_hang_up_reaches_the_call_through_redis(live, monkeypatch, settings):
    settings.CHANNEL_LAYERS = REDIS_LAYER  # channels resets its layers on setting_changed
    from channels.layers import get_channel_layer

    assert type(get_channel_layer()).__name__ == "RedisChannelLayer"
    await hang_up_through_the_group(live, monkeypatch)


@pytest.mark.django_db(transaction=True)
async def test_a_call_that_ended_leaves_its_group(live, monkeypatch):
    comm = await live_call(live)
    await comm.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(comm, lambda m: m.get("event") == "__close__")
    await comm.disconnect()
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    assert not layer.groups.get(f"call.{live.call.pk}")  # the in-memory layer's table
    await send_control(live.call.pk, "hang_up")  # reaches nobody, breaks nothing
    status, outcome, _, _ = await call_state(live.call.pk)
    assert outcome == "caller_hung_up"


# ---------------------------------------------------------------- the admin's "Hang up"


@pytest.mark.django_db
def test_staff_hang_up_only_their_tenants_live_calls(client, world_a, world_b, monkeypatch):
    sent = []
    monkeypatch.setattr("calls.admin.send_control_sync", lambda *a, **kw: sent.append((a, kw)))
    Call.objects.filter(pk__in=[world_a.call.pk, world_b.call.pk]).update(status="in-progress")
    ended = Call.objects.create(
        tenant=world_a.tenant,
        agent=world_a.agent,
        direction="inbound",
        from_number="+14155559999",
        to_number=world_a.number.number,
        status=CallStatus.COMPLETED,
    )
    client.force_login(world_a.staff)
    response = client.post(
        "/admin/calls/call/",
        {
            "action": "hang_up",
            "_selected_action": [world_a.call.pk, world_b.call.pk, ended.pk],
        },
        follow=True,
    )
    assert response.status_code == 200
    assert [(a, kw["outcome"]) for a, kw in sent] == [
        ((world_a.call.pk, "hang_up"), "staff_hung_up")
    ]
    assert "Asked 1 live call(s) to hang up." in response.content.decode()
