"""A call's TTS sits behind the phrase cache: the next caller's greeting is not synthesized."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from calls.models import Call, CallStatus
from calls.providers import factory, phrase_cache
from calls.providers.phrase_cache import MemoryStore
from calls.tests.doubles import ToneTTS
from telephony.tests import conftest as doubles
from telephony.tests.conftest import energy_vad  # noqa: F401
from telephony.tests.test_media_consumer import communicator, receive_until, start_message

pytestmark = pytest.mark.django_db(transaction=True)

SYNTHESIZED: list[str] = []


class CountingToneTTS(ToneTTS):
    async def synthesize(self, text, *, voice="", language="en"):
        SYNTHESIZED.append(text)
        async for chunk in super().synthesize(text, voice=voice, language=language):
            yield chunk


factory.register("tts", "test_counting_tone", lambda agent, **_: CountingToneTTS())


@pytest.fixture
def cached_world(world_a, energy_vad, monkeypatch):  # noqa: F811
    monkeypatch.setattr(phrase_cache, "_store", MemoryStore(1_000_000))
    agent = world_a.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "test_scripted",
        "scripted",
        "test_counting_tone",
    )
    agent.greeting = "Hello, thanks for calling."
    agent.save()
    doubles.SCRIPTED_TEXTS[:] = []
    SYNTHESIZED.clear()
    return world_a


async def greeting_played(world, monkeypatch) -> list[dict]:
    monkeypatch.setattr("telephony.media_stream.request_hang_up", lambda call_id: None)
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(world))
    seen = await receive_until(comm, lambda m: m.get("event") == "mark")
    await comm.send_to(text_data=json.dumps({"event": "mark", "mark": seen[-1]["mark"]}))
    await comm.disconnect()
    return [m for m in seen if m.get("event") == "media"]


def next_call(world) -> None:
    call = world.call
    world.call = Call.objects.create(
        tenant=call.tenant,
        agent=call.agent,
        direction=call.direction,
        from_number=call.from_number,
        to_number=call.to_number,
        twilio_call_sid="CA" + "9" * 32,
        twilio_account_sid=call.twilio_account_sid,
        status=CallStatus.RINGING,
    )


async def test_the_second_callers_greeting_comes_from_the_cache(cached_world, monkeypatch):
    first = await greeting_played(cached_world, monkeypatch)
    assert SYNTHESIZED == ["Hello, thanks for calling."]
    await database_sync_to_async(next_call)(cached_world)
    second = await greeting_played(cached_world, monkeypatch)
    assert SYNTHESIZED == ["Hello, thanks for calling."]  # not synthesized again
    assert [m["media"]["payload"] for m in second] == [m["media"]["payload"] for m in first]
