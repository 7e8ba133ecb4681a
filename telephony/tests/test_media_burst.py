"""Speech that arrives faster than real time (a burst of frames) is still heard, turn by turn.

Twilio paces its frames, so this is robustness: the whole of a caller's speech can be in
before the call's recogniser has even opened (its one worker thread busy with other calls,
or its model still loading), and each sentence must still become the caller's turn.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from calls.engine.session import CallSession
from calls.providers.local_stt import LocalWhisperSTT, load_model
from telephony.signatures import forget_cached_tokens
from telephony.simulator import FRAME, speech
from telephony.tests.test_media_consumer import (
    caller_turns,
    communicator,
    media,
    receive_until,
    start_message,
)

pytestmark = pytest.mark.django_db(transaction=True)

SENTENCES = [
    ("What are your hours on Saturday?", "hours"),
    ("I would like to order a large latte.", "order"),
    ("Do you have parking behind the shop?", "parking"),
    ("Thank you very much.", "thank"),
]
PAUSE = b"\xff" * 8000  # a second of line silence between sentences


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    forget_cached_tokens()
    yield
    forget_cached_tokens()


@pytest.fixture(scope="module")
def caller_audio() -> list[bytes]:
    load_model()  # once, ahead: "ready" means ready
    audio = b"".join(speech(text) + PAUSE for text, _ in SENTENCES)
    return [audio[i : i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(audio), FRAME)]


@pytest.fixture
def whisper_world(world_a):
    agent = world_a.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "local_whisper",
        "scripted",
        "test_tone",
    )
    agent.greeting = "Hello."
    agent.save()
    return world_a


@pytest.mark.parametrize("recogniser", ["ready", "still opening"])
async def test_a_burst_of_speech_gives_the_caller_turns(
    whisper_world, caller_audio, monkeypatch, recogniser
):
    assert len(caller_audio) * 0.02 >= 10  # seconds of caller audio
    burst_taken_in = asyncio.Event()
    real_on_mark, real_open = CallSession.on_mark, LocalWhisperSTT.open

    async def on_mark(self, name):
        if name == "end-of-burst":  # every frame before it has been through on_audio
            burst_taken_in.set()
        await real_on_mark(self, name)

    async def open_late(self, **options):
        await burst_taken_in.wait()
        return await real_open(self, **options)

    monkeypatch.setattr(CallSession, "on_mark", on_mark)
    if recogniser == "still opening":
        monkeypatch.setattr(LocalWhisperSTT, "open", open_late)
    comm = communicator()
    assert (await comm.connect())[0]
    try:
        await comm.send_to(text_data=start_message(whisper_world))
        await receive_until(comm, lambda m: m.get("event") == "mark", timeout=20)
        for n, frame in enumerate(caller_audio):  # all of it at once, no pacing
            await comm.send_to(text_data=media(base64.b64encode(frame).decode(), n))
        await comm.send_to(
            text_data=json.dumps({"event": "mark", "mark": {"name": "end-of-burst"}})
        )
        await asyncio.wait_for(burst_taken_in.wait(), timeout=60)
        call_id = whisper_world.call.pk
        deadline = asyncio.get_running_loop().time() + 90

        def heard_all(turns: list[str]) -> bool:
            said = " ".join(turns).lower()
            return all(word in said for _, word in SENTENCES)

        while not heard_all(await caller_turns(call_id)):
            assert asyncio.get_running_loop().time() < deadline, await caller_turns(call_id)
            await asyncio.sleep(0.2)
        await comm.send_to(text_data=json.dumps({"event": "stop", "stop": {}}))
        await receive_until(comm, lambda m: m.get("event") == "__close__", timeout=20)
    finally:
        await comm.disconnect()
    turns = await caller_turns(whisper_world.call.pk)
    # Turns as when the same audio comes in real time: a second of silence after a finished
    # sentence ends the turn (the recogniser may make a sentence sound unfinished, "...two
    # lot 8.", and then, in real time too, the next one joins it): never one glued blob.
    assert len(turns) >= len(SENTENCES) - 1, turns
    said = " ".join(turns).lower()
    positions = [said.index(word) for _, word in SENTENCES]
    assert positions == sorted(positions), turns
