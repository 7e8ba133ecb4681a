"""The browser call's socket: who may open it, a whole call through it (audio, marks, the live
transcript with latencies), the call recorded as a test, and bad input."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from calls.control import send_control
from calls.models import Call, CallEvent, Turn
from calls.tests.doubles import SILENCE, VOICE
from orders.tests.test_boards import ORIGIN, session_cookie
from voiceapp.models import Membership
from voiceapp.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


@asynccontextmanager
async def call_socket(user, agent_id: int, *, origin: str = ORIGIN):
    headers = [(b"origin", origin.encode())] if origin else []
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/webcalls/agents/{agent_id}/", headers=headers
    )
    connected, code = await communicator.connect()
    try:
        yield communicator, connected, code
    finally:
        await communicator.disconnect()


async def receive_until(socket, predicate, timeout: float = 8.0) -> list:
    """Messages (dicts for text, bytes for audio, {"closed": code}) up to one matching."""
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            shown = [m if isinstance(m, dict) else len(m) for m in seen]
            raise AssertionError(f"not seen in time; got {shown[-30:]}")
        try:
            output = await socket.receive_output(timeout=left)
        except TimeoutError:
            output = {"type": "timeout"}
        if output["type"] == "timeout":
            left = 0
            continue
        if output["type"] == "websocket.close":
            seen.append({"closed": output.get("code")})
        elif output.get("bytes") is not None:
            seen.append(output["bytes"])
        else:
            seen.append(json.loads(output["text"]))
        if predicate(seen[-1]):
            return seen


def kind(message) -> str:
    return message.get("type", "closed") if isinstance(message, dict) else "audio"


async def say(socket, frames: int = 10) -> None:
    """Speech then silence, in 20 ms frames; sent two frames per message to check that the
    socket cuts them into the engine's frames."""
    audio = VOICE * frames + SILENCE * 6
    for start in range(0, len(audio), 320):
        await socket.send_to(bytes_data=audio[start : start + 320])


async def echo_marks_until(socket, predicate, timeout: float = 10.0) -> list:
    """Play the agent's audio as a page does (echo each mark) until a message matches
    `predicate` or the socket closes."""
    seen = []
    while True:
        [*_, last] = messages = await receive_until(socket, lambda m: True, timeout=timeout)
        seen += messages
        if kind(last) == "mark":
            await socket.send_to(text_data=json.dumps({"type": "mark", "name": last["name"]}))
        if kind(last) == "closed" or predicate(last):
            return seen


# ---------------------------------------------------------------- a whole call


async def test_a_whole_test_call_from_the_browser(world_a, live_agent):
    async with call_socket(world_a.staff, live_agent.pk) as (socket, connected, _):
        assert connected
        seen = await receive_until(socket, lambda m: kind(m) == "mark")
        opened = seen[0]
        assert opened["type"] == "call"
        call_id = opened["call_id"]
        assert opened["admin_url"] == f"/admin/calls/call/{call_id}/change/"
        greeting_audio = [m for m in seen if kind(m) == "audio"]
        assert greeting_audio and all(len(a) > 0 for a in greeting_audio)
        await socket.send_to(text_data=json.dumps({"type": "mark", "name": seen[-1]["name"]}))

        await say(socket)
        seen = await echo_marks_until(socket, lambda m: kind(m) == "turn" and m["index"] == 2)
        turns = [m for m in seen if kind(m) == "turn"]
        events = [m for m in seen if kind(m) == "event"]
        assert ("caller", "what are your hours") in [(t["speaker"], t["text"]) for t in turns]
        [answer] = [t for t in turns if t["text"] == "9 to 5"]
        assert answer["latency_ms"] is not None and answer["latency_ms"] > 0
        assert {"stt_final", "first_frame_sent"} <= set(answer["timings"])
        assert [e["data"]["name"] for e in events if e["kind"] == "tool_call"] == ["lookup_info"]

        await say(socket)  # "goodbye": the agent says goodbye and hangs up
        seen = await echo_marks_until(socket, lambda m: False)
        [ended] = [m for m in seen if kind(m) == "ended"]
        assert ended["outcome"] == "agent_ended"

    call = await Call.objects.aget(pk=call_id)
    assert call.tenant_id == world_a.tenant.pk and call.agent_id == live_agent.pk
    assert call.direction == "inbound"
    assert call.from_number == "browser:staff_a"
    assert call.twilio_call_sid is None  # never through the carrier
    assert [h["status"] for h in call.status_history] == ["ringing", "in-progress", "completed"]
    assert call.status == "completed" and call.outcome == "agent_ended"
    assert call.recording.name.endswith(".wav")
    marked = await CallEvent.objects.aget(call=call, kind="test_call")
    assert marked.data == {"user_id": world_a.staff.pk, "username": "staff_a"}
    texts = [(t.speaker, t.text) async for t in Turn.objects.filter(call=call).order_by("index")]
    assert texts == [
        ("agent", "Hello."),
        ("caller", "what are your hours"),
        ("agent", "9 to 5"),
        ("caller", "goodbye"),
        ("agent", "Thank you for calling. Goodbye!"),
    ]


async def test_the_page_closing_ends_the_call(world_a, live_agent):
    async with call_socket(world_a.staff, live_agent.pk) as (socket, connected, _):
        assert connected
        opened = (await receive_until(socket, lambda m: kind(m) == "call"))[-1]
    call = await Call.objects.aget(pk=opened["call_id"])
    assert call.status == "completed" and call.outcome == "caller_hung_up"


async def test_staff_can_hang_up_a_test_call_from_the_admin(world_a, live_agent):
    async with call_socket(world_a.staff, live_agent.pk) as (socket, _, _):
        opened = (await receive_until(socket, lambda m: kind(m) == "call"))[-1]
        await receive_until(socket, lambda m: kind(m) == "mark")
        await send_control(opened["call_id"], "hang_up")
        seen = await receive_until(socket, lambda m: kind(m) == "closed", timeout=20)
        assert [m["outcome"] for m in seen if kind(m) == "ended"] == ["staff_hung_up"]
    call = await Call.objects.aget(pk=opened["call_id"])
    assert call.outcome == "staff_hung_up"


async def test_an_agent_that_cannot_take_calls_says_why(world_a, live_agent):
    live_agent.greeting = "Hello {first_name}."
    await live_agent.asave()
    async with call_socket(world_a.staff, live_agent.pk) as (socket, connected, _):
        assert connected
        seen = await receive_until(socket, lambda m: kind(m) == "closed")
    [ended] = [m for m in seen if kind(m) == "ended"]
    assert ended["outcome"] == "setup_error" and "first_name" in ended["reason"]
    assert seen[-1] == {"closed": 4500}
    call = await Call.objects.aget(pk=seen[0]["call_id"])
    assert call.status == "failed" and call.outcome == "setup_error"


async def test_bad_input_is_skipped_and_the_call_goes_on(world_a, live_agent, caplog):
    async with call_socket(world_a.staff, live_agent.pk) as (socket, _, _):
        seen = await receive_until(socket, lambda m: kind(m) == "mark")
        for junk in (
            "not json",
            "[1]",
            '{"type": "mark"}',
            '{"type": "dtmf", "digit": "x"}',
            '{"type": "launch"}',
        ):
            await socket.send_to(text_data=junk)
        await socket.send_to(bytes_data=b"\xff" * 9000)  # no microphone sends a second at once
        await socket.send_to(text_data=json.dumps({"type": "mark", "name": seen[-1]["name"]}))
        await say(socket)
        seen = await echo_marks_until(socket, lambda m: kind(m) == "turn" and m["text"] == "9 to 5")
        assert any(kind(m) == "turn" and m["text"] == "9 to 5" for m in seen)
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("webcalls")]
    assert sum("malformed message from the page" in w for w in warnings) == 5
    assert any("oversized audio message" in w for w in warnings)


async def test_talking_over_the_agent_clears_the_pages_audio(world_a, live_agent):
    live_agent.greeting = "Hello, and welcome. " * 8  # long enough to talk over
    await live_agent.asave()
    async with call_socket(world_a.staff, live_agent.pk) as (socket, _, _):
        opened = (await receive_until(socket, lambda m: kind(m) == "call"))[-1]
        await receive_until(socket, lambda m: kind(m) == "audio")
        await say(socket, frames=50)  # a second of speech over the greeting, marks unechoed
        seen = await receive_until(socket, lambda m: kind(m) == "clear")
        assert kind(seen[-1]) == "clear"
        seen = await echo_marks_until(socket, lambda m: kind(m) == "turn" and m["index"] == 0)
        assert seen[-1]["speaker"] == "agent" and seen[-1]["interrupted"] is True
    barge = await CallEvent.objects.filter(call_id=opened["call_id"], kind="barge_in").afirst()
    assert barge is not None


async def test_a_key_press_reaches_the_call(world_a, live_agent):
    async with call_socket(world_a.staff, live_agent.pk) as (socket, _, _):
        opened = (await receive_until(socket, lambda m: kind(m) == "call"))[-1]
        await receive_until(socket, lambda m: kind(m) == "mark")
        await socket.send_to(text_data=json.dumps({"type": "dtmf", "digit": "5"}))
        seen = await receive_until(socket, lambda m: kind(m) == "event" and m["kind"] == "dtmf")
        assert seen[-1]["data"] == {"digit": "5"}
    event = await CallEvent.objects.aget(call_id=opened["call_id"], kind="dtmf")
    assert event.data == {"digit": "5"}


# ---------------------------------------------------------------- who may call


@pytest.mark.parametrize("who", ["other_tenant_staff", "outsider", "anonymous", "not_staff"])
async def test_only_the_agents_tenant_staff_may_open_the_socket(world_a, world_b, outsider, who):
    member = None
    if who == "not_staff":
        member = await database_sync_to_async(get_user_model().objects.create_user)(
            "member", password="pw-for-tests", is_staff=False
        )
        await Membership.objects.acreate(user=member, tenant=world_a.tenant)
    user = {
        "other_tenant_staff": world_b.staff,
        "outsider": outsider,
        "anonymous": None,
        "not_staff": member,
    }[who]
    async with call_socket(user, world_a.agent.pk) as (_, connected, _):
        assert not connected
    async with call_socket(world_a.staff, 999999) as (_, connected, _):
        assert not connected  # no such agent
    assert not await Call.objects.filter(from_number__startswith="browser:").aexists()


async def test_a_page_of_another_site_cannot_open_the_socket(world_a, live_agent):
    async with call_socket(world_a.staff, live_agent.pk, origin="https://evil.example.com") as (
        _,
        connected,
        _,
    ):
        assert not connected
    assert not await Call.objects.filter(from_number__startswith="browser:").aexists()
