"""The media WebSocket: who may connect, which streams are served, and bad input."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from twilio.request_validator import RequestValidator

from calls.engine.session import CallSession
from calls.models import Call, CallEvent, Turn
from telephony import media_stream, stream_token
from telephony.signatures import forget_cached_tokens
from telephony.tests import conftest as doubles
from voiceapp.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/telephony/twilio/media/"
STREAM_URL = "wss://voice.example.test" + PATH
SILENCE = base64.b64encode(b"\xff" * 160).decode()
VOICE = base64.b64encode(b"\x10" * 160).decode()


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    forget_cached_tokens()
    yield
    forget_cached_tokens()


@pytest.fixture
def live_world(world_a, energy_vad):
    agent = world_a.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "test_scripted",
        "scripted",
        "test_tone",
    )
    agent.tools = ["lookup_info", "end_call"]
    agent.greeting = "Hello."
    agent.save()
    doubles.SCRIPTED_TEXTS[:] = ["what are your hours", "goodbye"]
    return world_a


def communicator(token: str = "token-a", url: str = STREAM_URL, signature: str | None = None):
    sig = RequestValidator(token).compute_signature(url, {}) if signature is None else signature
    headers = [(b"x-twilio-signature", sig.encode())] if sig else []
    return WebsocketCommunicator(URLRouter(websocket_urlpatterns), PATH, headers=headers)


def start_message(world, *, token: str | None = None, call_sid: str | None = None, **fmt) -> str:
    call = world.call
    token = stream_token.issue(call.pk, world.account.account_sid) if token is None else token
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ" + "1" * 32,
            "start": {
                "streamSid": "MZ" + "1" * 32,
                "accountSid": world.account.account_sid,
                "callSid": call_sid or call.twilio_call_sid,
                "tracks": ["inbound"],
                "customParameters": {"call_id": str(call.pk), "token": token},
                "mediaFormat": {
                    "encoding": "audio/x-mulaw",
                    "sampleRate": 8000,
                    "channels": 1,
                    **fmt,
                },
            },
        }
    )


def media(payload: str = SILENCE, n: int = 1) -> str:
    return json.dumps(
        {
            "event": "media",
            "streamSid": "MZ" + "1" * 32,
            "media": {
                "track": "inbound",
                "chunk": str(n),
                "timestamp": str(n * 20),
                "payload": payload,
            },
        }
    )


async def receive_until(comm, predicate, timeout: float = 5.0) -> list[dict]:
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"not seen in time; got {[m.get('event') for m in seen]}")
        message = await comm.receive_output(timeout=left)
        if message["type"] == "websocket.close":
            seen.append({"event": "__close__", "code": message.get("code")})
        else:
            seen.append(json.loads(message["text"]))
        if predicate(seen[-1]):
            return seen


@database_sync_to_async
def call_state(call_id):
    call = Call.objects.get(pk=call_id)
    return call.status, call.outcome, call.stream_sid, call.status_history


@database_sync_to_async
def event_kinds(call_id) -> list[str]:
    return list(
        CallEvent.objects.filter(call_id=call_id).order_by("pk").values_list("kind", flat=True)
    )


@database_sync_to_async
def caller_turns(call_id) -> list[str]:
    turns = Turn.objects.filter(call_id=call_id, speaker="caller").order_by("index")
    return list(turns.values_list("text", flat=True))


async def say_something(comm) -> None:
    for n in range(10):
        await comm.send_to(text_data=media(VOICE, n))
    for n in range(6):
        await comm.send_to(text_data=media(SILENCE, n))


async def hang_up(comm) -> None:
    await comm.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(comm, lambda m: m.get("event") == "__close__")


# ---------------------------------------------------------------- the handshake


async def test_forged_handshake_is_refused(live_world):
    comm = communicator(token="not-the-token")
    connected, code = await comm.connect()
    assert not connected and code == 4403
    assert (await call_state(live_world.call.pk))[0] == "ringing"


async def test_missing_signature_is_refused(live_world):
    comm = communicator(signature="")
    connected, _ = await comm.connect()
    assert not connected


async def test_signature_for_another_url_is_refused(live_world):
    comm = communicator(url="wss://evil.example.test" + PATH)
    connected, _ = await comm.connect()
    assert not connected


# ---------------------------------------------------------------- the start message


@pytest.mark.parametrize(
    "case",
    [
        "missing token",
        "forged token",
        "expired token",
        "other call sid",
        "ended call",
        "other account",
        "bad format",
    ],
)
async def test_unservable_stream_is_closed_and_the_call_untouched(
    live_world, world_b, case, monkeypatch
):
    token = None
    kwargs = {}
    if case == "missing token":
        token = ""
    elif case == "forged token":
        token = stream_token.issue(live_world.call.pk, live_world.account.account_sid)[:-3] + "abc"
    elif case == "expired token":
        monkeypatch.setattr("django.conf.settings.STREAM_TOKEN_TTL", -1)
    elif case == "other call sid":
        kwargs["call_sid"] = "CA" + "5" * 32
    elif case == "ended call":
        await database_sync_to_async(live_world.call.apply_status)("completed")
    elif case == "other account":
        token = stream_token.issue(world_b.call.pk, world_b.account.account_sid)
    elif case == "bad format":
        kwargs["encoding"] = "audio/l16"
    before = await call_state(live_world.call.pk)
    turns_before = await database_sync_to_async(Turn.objects.filter(call=live_world.call).count)()
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(live_world, token=token, **kwargs))
    closed = await comm.receive_output(timeout=3)
    assert closed["type"] == "websocket.close" and closed["code"] == 4403
    assert await call_state(live_world.call.pk) == before
    assert (
        await database_sync_to_async(Turn.objects.filter(call=live_world.call).count)()
        == turns_before
    )


# ---------------------------------------------------------------- bad input never ends the call


async def test_bad_input_is_skipped_and_the_call_goes_on(live_world, caplog):
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=media())  # media before start
    await comm.send_to(
        text_data=json.dumps({"event": "mark", "mark": {"name": "x"}})
    )  # mark before start
    await comm.send_to(text_data=start_message(live_world))
    await receive_until(comm, lambda m: m.get("event") == "mark")  # the greeting was sent
    for garbage in [
        "not json at all",
        "[1, 2, 3]",
        json.dumps({"event": "teleport"}),
        json.dumps({"event": "media", "media": {"payload": "%%%not-base64%%%"}}),
        json.dumps({"event": "media", "media": {"payload": "A" * 200_000}}),
        json.dumps({"event": "media"}),
        json.dumps({"event": "dtmf", "dtmf": {"digit": "Z"}}),
        "x" * 100_000,
    ]:
        await comm.send_to(text_data=garbage)
    await comm.send_to(bytes_data=b"\x00\x01binary")
    await comm.send_to(text_data=start_message(live_world))  # a second start
    # Still alive: the caller asks, the agent answers.
    for n in range(10):
        await comm.send_to(text_data=media(VOICE, n))
    for n in range(6):
        await comm.send_to(text_data=media(SILENCE, n))
    await receive_until(comm, lambda m: m.get("event") == "media", timeout=5)
    await comm.send_to(
        text_data=json.dumps(
            {"event": "stop", "stop": {"callSid": live_world.call.twilio_call_sid}}
        )
    )
    await receive_until(comm, lambda m: m.get("event") == "__close__")
    await comm.disconnect()
    for expected in [
        "not JSON",
        "unknown event",
        "not base64",
        "over the limit",
        "binary frame",
        "before start",
        "second start",
    ]:
        assert expected in caplog.text, expected
    status, outcome, stream_sid, _ = await call_state(live_world.call.pk)
    assert status == "completed" and outcome == "caller_hung_up" and stream_sid == "MZ" + "1" * 32


async def test_a_whole_call_through_the_consumer(live_world, monkeypatch):
    hangups = []
    monkeypatch.setattr(
        "telephony.media_stream.request_hang_up", lambda call_id: hangups.append(call_id)
    )
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(
        text_data=json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    )
    await comm.send_to(text_data=start_message(live_world))
    seen = await receive_until(comm, lambda m: m.get("event") == "mark")
    assert seen[0]["event"] == "media" and seen[0]["streamSid"] == "MZ" + "1" * 32
    await comm.send_to(
        text_data=json.dumps(
            {"event": "mark", "streamSid": "MZ" + "1" * 32, "mark": seen[-1]["mark"]}
        )
    )

    async def say_something():
        for n in range(10):
            await comm.send_to(text_data=media(VOICE, n))
        for n in range(6):
            await comm.send_to(text_data=media(SILENCE, n))

    async def echo_marks_until(predicate):
        while True:
            message = await receive_until(
                comm, lambda m: m.get("event") in ("mark", "__close__"), timeout=8
            )
            last = message[-1]
            if last["event"] == "__close__":
                return last
            await comm.send_to(text_data=json.dumps({"event": "mark", "mark": last["mark"]}))
            if predicate(last):
                return last

    await say_something()
    await echo_marks_until(lambda m: True)
    await say_something()  # "goodbye": the agent says goodbye and hangs up
    closed = await echo_marks_until(lambda m: False)
    assert closed["event"] == "__close__"
    await comm.disconnect()
    assert hangups == [live_world.call.pk]
    turns = await database_sync_to_async(list)(
        Turn.objects.filter(call=live_world.call).order_by("index").values_list("speaker", "text")
    )
    assert turns == [
        ("agent", "Hello."),
        ("caller", "what are your hours"),
        ("agent", "9 to 5"),
        ("caller", "goodbye"),
        ("agent", "Thank you for calling. Goodbye!"),
    ]
    kinds = await database_sync_to_async(list)(
        CallEvent.objects.filter(call=live_world.call).values_list("kind", flat=True)
    )
    assert "tool_call" in kinds
    status, outcome, _, history = await call_state(live_world.call.pk)
    assert status == "completed" and outcome == "agent_ended"
    assert [h["status"] for h in history] == ["in-progress", "completed"]


async def test_frames_do_not_hop_to_the_database_thread(live_world, monkeypatch):
    hops = []

    async def counting():
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counting)
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(live_world))
    await receive_until(comm, lambda m: m.get("event") == "mark")
    before = len(hops)
    for n in range(50):
        await comm.send_to(text_data=media(SILENCE, n))
    await asyncio.sleep(0.3)
    assert len(hops) == before  # a second of audio, and not one hop
    await comm.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
    await receive_until(comm, lambda m: m.get("event") == "__close__")
    await comm.disconnect()


# ---------------------------------------------------------------- input that used to crash


async def test_a_deeply_nested_frame_is_skipped_and_the_call_goes_on(live_world, caplog):
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(live_world))
    greeting = await receive_until(comm, lambda m: m.get("event") == "mark")
    nested = '{"a":' * 10000 + "1" + "}" * 10000  # 60 KB, under the size limit
    await comm.send_to(text_data=nested)
    # Later messages are still handled: the greeting's mark, then the caller's question.
    await comm.send_to(text_data=json.dumps({"event": "mark", "mark": greeting[-1]["mark"]}))
    await say_something(comm)
    await receive_until(comm, lambda m: m.get("event") == "media", timeout=8)
    await hang_up(comm)
    await comm.disconnect()
    assert "nested more than" in caplog.text
    assert await caller_turns(live_world.call.pk) == ["what are your hours"]
    status, outcome, _, _ = await call_state(live_world.call.pk)
    assert status == "completed" and outcome == "caller_hung_up"


async def test_a_failure_in_the_stream_ends_the_call_once(live_world, monkeypatch, caplog):
    sessions: list[CallSession] = []
    real_open_call = media_stream.open_call

    async def open_call(*args, **kwargs):
        session = await real_open_call(*args, **kwargs)
        sessions.append(session)
        return session

    async def on_audio(self, mulaw):
        raise RuntimeError("the audio path broke")

    monkeypatch.setattr("telephony.media_stream.open_call", open_call)
    monkeypatch.setattr(CallSession, "on_audio", on_audio)
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(live_world))
    await receive_until(comm, lambda m: m.get("event") == "mark")
    await comm.send_to(text_data=media(VOICE))
    await comm.send_to(text_data=media(VOICE, 2))  # queued behind the failure: moot
    closed = await receive_until(comm, lambda m: m.get("event") == "__close__")
    await comm.disconnect()
    assert closed[-1]["code"] == 1011
    (session,) = sessions
    await asyncio.wait_for(session.wait_closed(), timeout=10)
    # Nothing of the call is left running: no watchdog to say goodbye to nobody later.
    prefix = f"call-{live_world.call.pk}-"
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(prefix)]
    kinds = await event_kinds(live_world.call.pk)
    assert kinds.count("started") == 1 and kinds.count("ended") == 1 and "silence" not in kinds
    ended = await CallEvent.objects.aget(call_id=live_world.call.pk, kind="ended")
    assert ended.data == {"outcome": "error"}
    status, outcome, _, _ = await call_state(live_world.call.pk)
    assert status == "completed" and outcome == "error"
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "the audio path broke" in caplog.text


# ---------------------------------------------------------------- one stream per call


async def test_a_second_socket_with_the_same_token_is_refused(live_world, caplog):
    first = communicator()
    assert (await first.connect())[0]
    await first.send_to(text_data=start_message(live_world))
    greeting = await receive_until(first, lambda m: m.get("event") == "mark")
    for _ in range(2):  # while the first plays, and again after that refusal
        other = communicator()
        assert (await other.connect())[0]
        await other.send_to(text_data=start_message(live_world))
        refused = await receive_until(other, lambda m: m.get("event") == "__close__")
        await other.disconnect()
        assert refused == [{"event": "__close__", "code": 4403}]
    assert caplog.text.count("the call already has a media stream") == 2
    # The first stream is untouched: it still hears the caller and answers.
    await first.send_to(text_data=json.dumps({"event": "mark", "mark": greeting[-1]["mark"]}))
    await say_something(first)
    await receive_until(first, lambda m: m.get("event") == "media", timeout=8)
    await hang_up(first)
    await first.disconnect()
    assert await caller_turns(live_world.call.pk) == ["what are your hours"]
    kinds = await event_kinds(live_world.call.pk)
    assert kinds.count("started") == 1 and kinds.count("ended") == 1
    greeting_turn = await Turn.objects.aget(call_id=live_world.call.pk, index=0)
    assert greeting_turn.text == "Hello."


async def test_two_sockets_racing_with_one_token_get_one_stream(live_world):
    sockets = [communicator(), communicator()]
    for comm in sockets:
        assert (await comm.connect())[0]
    await asyncio.gather(*(c.send_to(text_data=start_message(live_world)) for c in sockets))
    firsts = await asyncio.gather(
        *(receive_until(c, lambda m: m.get("event") in ("mark", "__close__")) for c in sockets)
    )
    outcomes = sorted(seen[-1]["event"] for seen in firsts)
    assert outcomes == ["__close__", "mark"]
    (refused,) = [seen[-1] for seen in firsts if seen[-1]["event"] == "__close__"]
    assert refused["code"] == 4403
    (winner,) = [c for c, seen in zip(sockets, firsts, strict=True) if seen[-1]["event"] == "mark"]
    await hang_up(winner)
    for comm in sockets:
        await comm.disconnect()
    kinds = await event_kinds(live_world.call.pk)
    assert kinds.count("started") == 1 and kinds.count("ended") == 1


# ---------------------------------------------------------------- sockets that never start


@pytest.mark.parametrize("sends", [[], ["connected"], ["connected", "media"]])
async def test_a_socket_without_a_start_is_closed(live_world, settings, caplog, sends):
    settings.MEDIA_START_TIMEOUT_SECONDS = 0.5
    comm = communicator()
    assert (await comm.connect())[0]
    if "connected" in sends:
        await comm.send_to(
            text_data=json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
    if "media" in sends:
        await comm.send_to(text_data=media())
    closed = await comm.receive_output(timeout=10)
    await comm.disconnect()
    assert closed == {"type": "websocket.close", "code": 4408}
    assert "no start message within 0.5 s" in caplog.text
    assert (await call_state(live_world.call.pk))[0] == "ringing"


async def test_the_start_deadline_spares_a_stream_that_started(live_world, settings):
    settings.MEDIA_START_TIMEOUT_SECONDS = 0.3
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(live_world))
    greeting = await receive_until(comm, lambda m: m.get("event") == "mark")
    await asyncio.sleep(1.0)  # well past the deadline
    await comm.send_to(text_data=json.dumps({"event": "mark", "mark": greeting[-1]["mark"]}))
    await say_something(comm)
    await receive_until(comm, lambda m: m.get("event") == "media", timeout=8)
    await hang_up(comm)
    await comm.disconnect()
    assert await caller_turns(live_world.call.pk) == ["what are your hours"]
