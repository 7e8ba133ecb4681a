"""The conversation engine, driven without a socket: turns, tools, barge-in, silence, ending."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.models import Call, CallEvent, Turn
from calls.providers.base import LLM, Finished, ProviderError, TextDelta
from calls.tests.conftest import speak, until
from calls.tests.doubles import ScriptedSTT, ToneTTS

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def turns(call_id):
    return list(
        Turn.objects.filter(call_id=call_id)
        .order_by("index")
        .values_list("speaker", "text", "interrupted")
    )


@sync_to_async
def events(call_id, kind=None):
    qs = CallEvent.objects.filter(call_id=call_id)
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs.order_by("at", "pk").values_list("kind", "data"))


@sync_to_async
def get_call(call_id):
    return Call.objects.get(pk=call_id)


async def test_greeting_question_tool_and_hang_up(build_session):
    session, transport = await build_session(texts=["What are your hours?", "Thanks, goodbye"])
    await until(lambda: "mark" in transport.kinds())
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await until(lambda: not session.agent_active)
    await speak(session)
    await asyncio.wait_for(transport.hung_up.wait(), 5)
    await session.wait_closed()

    assert await turns(session.call_id) == [
        ("agent", "Hi.", False),
        ("caller", "What are your hours?", False),
        ("agent", "We are open from nine to five.", False),
        ("caller", "Thanks, goodbye", False),
        ("agent", "Thank you for calling. Goodbye!", False),
    ]
    tool_calls = await events(session.call_id, "tool_call")
    assert tool_calls[0][1]["name"] == "lookup_info"
    assert tool_calls[0][1]["arguments"] == {"topic": "hours"}
    assert tool_calls[0][1]["result"]["answer"] == "We are open from nine to five."
    assert tool_calls[1][1]["name"] == "end_call"
    call = await get_call(session.call_id)
    assert call.outcome == "agent_ended" and call.status == "completed"
    assert call.recording.name.endswith(".wav")
    answer = await sync_to_async(Turn.objects.get)(call_id=session.call_id, index=2)
    assert set(answer.timings) >= {
        "stt_final",
        "llm_first_token",
        "tts_first_audio",
        "first_frame_sent",
    }
    assert answer.latency_ms == answer.timings["first_frame_sent"]
    assert (
        answer.timings["stt_final"]
        <= answer.timings["llm_first_token"]
        <= answer.timings["first_frame_sent"]
    )
    assert session.task_count == 0


async def test_barge_in_clears_cancels_and_keeps_what_was_heard(build_session):
    long = "This is a very long greeting that goes on and on. It has a second sentence too."
    session, transport = await build_session(
        texts=["parking?"], greeting=long, tts=ToneTTS(ms_per_char=30)
    )
    await until(lambda: transport.audio_seconds() > 0.5)
    await asyncio.sleep(0.4)
    await speak(session, frames=6, silence=0)
    assert "clear" in transport.kinds()
    cut = await events(session.call_id, "barge_in")
    await until(lambda: bool(cut) or False, timeout=0.1) if cut else None
    await speak(session, frames=0, silence=5)
    await until(lambda: session.messages[-1].get("content") == "Park behind the shop.")
    await session.close()

    first = (await turns(session.call_id))[0]
    assert first[0] == "agent" and first[2] is True
    assert first[1] and long.startswith(first[1]) and len(first[1]) < len(long) / 2
    barge = await events(session.call_id, "barge_in")
    assert barge and barge[0][1]["heard"] == first[1]
    assert "It has a second sentence too." in barge[0][1]["cut"]
    # The model is told only what the caller heard.
    assert {"role": "assistant", "content": first[1]} in session.messages
    assert session.task_count == 0


async def test_barge_in_while_the_model_is_thinking_cancels_it(build_session):
    class SlowLLM(LLM):
        name = "slow"
        cancelled = False

        async def stream(self, messages, tools):
            try:
                await asyncio.sleep(10)
                yield TextDelta("too late")
            except asyncio.CancelledError:
                SlowLLM.cancelled = True
                raise

    session, transport = await build_session(
        texts=["first", "second"], llm=SlowLLM(), llm_timeout=30
    )
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.responding)
    await speak(session, frames=4, silence=0)
    await until(lambda: SlowLLM.cancelled)
    await session.close()
    assert session.task_count == 0


async def test_unfinished_number_is_not_cut_off(build_session):
    session, transport = await build_session(texts=["my number is 415 555", "0123", "thanks"])
    await until(lambda: not session.agent_active)
    await speak(session)
    await asyncio.sleep(0.6)  # a pause between digit groups, shorter than the hold
    await speak(session)
    await until(lambda: any(m.get("role") == "user" for m in session.messages), timeout=5)
    await session.close()
    callers = [t for t in await turns(session.call_id) if t[0] == "caller"]
    assert callers[0][1] == "my number is 415 555 0123"


async def test_silence_reprompts_then_hangs_up(build_session):
    session, transport = await build_session(
        silence_reprompt=1.0, silence_hangup=3.0, greeting="Hi."
    )
    await asyncio.wait_for(transport.hung_up.wait(), 8)
    await session.wait_closed()
    said = [t[1] for t in await turns(session.call_id)]
    assert said == ["Hi.", "Are you still there?", "Thank you for calling. Goodbye!"]
    assert (await get_call(session.call_id)).outcome == "silence_timeout"
    reasons = [e[1]["reason"] for e in await events(session.call_id, "silence")]
    assert reasons == ["reprompt", "hang_up"]


async def test_maximum_call_length(build_session):
    session, transport = await build_session(max_call_seconds=1.0)
    await asyncio.wait_for(transport.hung_up.wait(), 5)
    await session.wait_closed()
    assert (await get_call(session.call_id)).outcome == "max_duration"


async def test_dtmf_reaches_the_agent(build_session):
    session, transport = await build_session()
    await until(lambda: not session.agent_active)
    for digit in "42#":
        await session.on_dtmf(digit)
    await until(
        lambda: any("42" in str(m.get("content")) for m in session.messages if m["role"] == "user")
    )
    await session.close()
    assert ("caller", "(keypad) 4 2", False) in await turns(session.call_id)
    assert [e[1]["digit"] for e in await events(session.call_id, "dtmf")] == ["4", "2", "#"]


async def test_hanging_model_falls_back_within_the_turn(build_session):
    class HangingLLM(LLM):
        name = "hanging"

        async def stream(self, messages, tools):
            await asyncio.sleep(3600)
            yield Finished()

    from calls.providers.scripted import ScriptedBrain
    from calls.tools import registry

    session, transport = await build_session(
        texts=["what are your hours"], llm=HangingLLM(), llm_timeout=0.3
    )
    session.llm.fallback = ScriptedBrain(registry.for_agent(["lookup_info"]), session.tool_context)
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()
    fallbacks = await events(session.call_id, "fallback")
    assert fallbacks[0][1]["role"] == "llm" and fallbacks[0][1]["failed"] == "hanging"


async def test_model_failing_mid_answer_falls_back_and_caller_hears_an_answer(build_session):
    class BreakingLLM(LLM):
        name = "breaking"

        async def stream(self, messages, tools):
            yield TextDelta("Let me see. ")
            raise ProviderError("stream cut", provider="breaking")

    class Backup(LLM):
        name = "backup"

        async def stream(self, messages, tools):
            assert messages[-1] == {"role": "assistant", "content": "Let me see. "}
            yield TextDelta("We open at nine.")
            yield Finished()

    session, transport = await build_session(
        texts=["hours?"], llm=BreakingLLM(), llm_fallback=Backup()
    )
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "Let me see. We open at nine.")
    await session.close()


async def test_every_model_failing_still_answers(build_session):
    class Down(LLM):
        name = "down"

        async def stream(self, messages, tools):
            raise ProviderError("401", permanent=True, provider="down")
            yield  # pragma: no cover

    session, transport = await build_session(texts=["hello"], llm=Down())
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: "trouble" in str(session.messages[-1].get("content")))
    await session.close()
    assert (await events(session.call_id, "error"))[0][1]["role"] == "llm"


async def test_tts_failure_uses_the_fallback_voice(build_session):
    broken, backup = ToneTTS(name="broken", fail=True), ToneTTS(name="backup")
    session, transport = await build_session(tts=broken, tts_fallback=backup)
    await until(lambda: "mark" in transport.kinds())
    await session.close()
    assert backup.spoken == ["Hi."]
    assert (await events(session.call_id, "fallback"))[0][1]["role"] == "tts"


async def test_hanging_tts_falls_back(build_session):
    session, transport = await build_session(
        tts=ToneTTS(name="stuck", hang=True), tts_fallback=ToneTTS(name="backup")
    )
    await until(lambda: "mark" in transport.kinds(), timeout=4)
    await session.close()
    assert session.task_count == 0


async def test_recogniser_failure_switches_and_replays_the_utterance(build_session):
    primary = ScriptedSTT([], name="primary")
    primary.fail_on_finalize = True
    backup = ScriptedSTT(["what are your hours"], name="backup")
    session, transport = await build_session(stt=primary, stt_fallback=backup)
    await until(lambda: not session.agent_active)
    await speak(session, frames=10)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()
    assert backup.frames >= 10  # the utterance was replayed into the fallback
    assert (await events(session.call_id, "fallback"))[0][1]["role"] == "stt"


async def test_close_leaves_nothing_running_and_a_final_status(build_session):
    session, transport = await build_session(tts=ToneTTS(ms_per_char=200))
    await until(lambda: transport.audio_seconds() > 0)
    await session.close("caller_hung_up")
    await session.close()  # twice is fine
    assert session.task_count == 0
    call = await get_call(session.call_id)
    assert call.status == "completed" and call.outcome == "caller_hung_up" and call.ended_at
    greeting = (await turns(session.call_id))[0]
    assert greeting[2] is True  # cut off by the hang-up


async def test_words_said_just_before_hanging_up_are_kept(build_session):
    session, transport = await build_session(texts=["actually never mind"])
    await until(lambda: not session.agent_active)
    await speak(session, frames=6, silence=0)  # still talking when the line drops
    await session.close("caller_hung_up")
    assert ("caller", "actually never mind", False) in await turns(session.call_id)
