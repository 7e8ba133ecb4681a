"""After a whole call through the media consumer, /metrics tells what happened in it."""

from __future__ import annotations

import asyncio
import json

import pytest

from monitoring import metrics
from monitoring.tests.conftest import scrape, value
from telephony.tests import conftest as doubles
from telephony.tests.test_media_consumer import (
    SILENCE,
    VOICE,
    communicator,
    media,
    receive_until,
    start_message,
)

pytestmark = pytest.mark.django_db(transaction=True)


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
    doubles.SCRIPTED_TEXTS[:] = ["what are your hours", "", "goodbye"]
    return world_a


async def a_call(world, monkeypatch) -> None:
    """The caller asks a question, says something the recogniser makes nothing of, and says
    goodbye; the agent hangs up."""
    monkeypatch.setattr("telephony.media_stream.request_hang_up", lambda call_id: None)
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(world))

    async def echo_marks_until(predicate) -> dict:
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

    async def say_something() -> None:
        for n in range(10):
            await comm.send_to(text_data=media(VOICE, n))
        for n in range(6):
            await comm.send_to(text_data=media(SILENCE, n))

    await echo_marks_until(lambda m: True)  # the greeting
    await say_something()  # "what are your hours"
    await echo_marks_until(lambda m: True)
    await asyncio.sleep(0.5)  # the answer has played out: the agent is listening
    await say_something()  # nothing the recogniser made words of: asked again
    await echo_marks_until(lambda m: True)
    await say_something()  # "goodbye": the agent says goodbye and hangs up
    closed = await echo_marks_until(lambda m: False)
    assert closed["event"] == "__close__"
    await comm.disconnect()


async def test_a_call_shows_in_the_metrics(live_world, monkeypatch, client, metrics_on):
    from channels.db import database_sync_to_async

    before = await database_sync_to_async(scrape)(client)
    calls_before = value("voice_calls_total", direction="inbound", outcome="agent_ended")
    unheard_before = sum(
        v for (name, _), v in before.items() if name == "voice_utterances_unheard_total"
    )
    await a_call(live_world, monkeypatch)
    after = await database_sync_to_async(scrape)(client)

    def delta(name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert value("voice_calls_total", direction="inbound", outcome="agent_ended") == (
        calls_before + 1
    )
    assert delta("voice_calls_total", direction="inbound", outcome="agent_ended") == 1
    assert after[("voice_calls_in_progress", ())] == 0
    # Two answered turns (the hours, the goodbye): their stages by the provider that made them.
    assert delta("voice_turn_latency_seconds_count", llm="scripted", tts="tone") == 2
    assert delta("voice_turn_stage_seconds_count", stage="stt_final", provider="scripted-stt") == 2
    assert (
        delta("voice_turn_stage_seconds_count", stage="llm_first_token", provider="scripted") == 2
    )
    assert delta("voice_turn_stage_seconds_count", stage="tts_first_audio", provider="tone") == 2
    assert delta("voice_turn_stage_seconds_count", stage="endpoint", provider="engine") == 2
    unheard_after = sum(
        v for (name, _), v in after.items() if name == "voice_utterances_unheard_total"
    )
    assert unheard_after - unheard_before == 1


async def test_calls_in_progress_counts_live_calls_of_this_process():
    start = value("voice_calls_in_progress")
    metrics.call_started(-1, stt="a", llm="b", tts="c")
    assert value("voice_calls_in_progress") == start + 1
    metrics.call_stopped(-1)
    metrics.call_stopped(-1)  # a second close changes nothing
    assert value("voice_calls_in_progress") == start
