"""Nothing the caller says is lost: every stretch of speech ends as a caller turn with text, or
as an `unheard` event and the agent asking again; the turn model holds an unfinished-sounding
turn open and says in the turn's timings what ended it."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.models import CallEvent, Turn
from calls.providers.base import ProviderError
from calls.tests.conftest import speak, until
from calls.tests.doubles import ScriptedSTT

pytestmark = pytest.mark.django_db(transaction=True)

DIDNT_CATCH = "Sorry, I didn't catch that. Could you say it again?"


@sync_to_async
def caller_turns(call_id):
    return list(
        Turn.objects.filter(call_id=call_id, speaker="caller")
        .order_by("index")
        .values_list("text", flat=True)
    )


@sync_to_async
def agent_turns(call_id):
    return list(
        Turn.objects.filter(call_id=call_id, speaker="agent")
        .order_by("index")
        .values_list("text", "timings")
    )


@sync_to_async
def events(call_id, kind):
    return list(CallEvent.objects.filter(call_id=call_id, kind=kind).values_list("data", flat=True))


async def test_speech_that_comes_back_as_no_words_is_recorded_and_asked_again(build_session):
    session, transport = await build_session(texts=["", "what are your hours"])
    await until(lambda: not session.agent_active)
    await speak(session, frames=15)
    await until(lambda: session.messages[-1].get("content") == DIDNT_CATCH)
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()

    unheard = await events(session.call_id, "unheard")
    assert len(unheard) == 1
    assert unheard[0]["reason"] == "no_text" and unheard[0]["seconds"] > 0.2
    assert await caller_turns(session.call_id) == ["what are your hours"]
    assert [text for text, _ in await agent_turns(session.call_id)] == [
        "Hi.",
        DIDNT_CATCH,
        "We are open from nine to five.",
    ]


async def test_no_words_in_one_utterance_of_a_turn_with_words_is_not_asked_again(build_session):
    stt = ScriptedSTT(["", "what are your hours"], delay=0.05)
    session, transport = await build_session(stt=stt)
    await until(lambda: not session.agent_active)
    await speak(session, frames=10, silence=4)  # a cough, then at once the question
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()
    assert await events(session.call_id, "unheard") == []
    assert DIDNT_CATCH not in [m.get("content") for m in session.messages]


async def test_a_hang_up_after_a_burst_waits_for_every_utterance_still_owed(build_session):
    """Three utterances finalized just before the caller hangs up, each taking the recogniser
    0.6 s: all three reach the transcript (the close used to wait for the first only)."""
    stt = ScriptedSTT(["one thing", "another thing", "a last thing"], delay=0.6)
    session, transport = await build_session(stt=stt)
    await until(lambda: not session.agent_active)
    for _ in range(3):
        await speak(session, frames=10, silence=4)
    await session.close("caller_hung_up")
    assert await caller_turns(session.call_id) == ["one thing another thing a last thing"]


class FixedTurnModel:
    """A turn model that says what it is told, and records what it heard."""

    def __init__(self, *scores: float) -> None:
        self.scores = list(scores)
        self.heard: list[int] = []

    async def __call__(self, pcm16_8k: bytes) -> float:
        self.heard.append(len(pcm16_8k))
        return self.scores.pop(0) if self.scores else 0.99


async def test_an_unfinished_sounding_turn_waits_and_a_finished_one_ends_at_once(build_session):
    model = FixedTurnModel(0.1, 0.97)
    session, transport = await build_session(texts=["can you tell me", "your hours please"])
    session.hearing.turn_model = model
    await until(lambda: not session.agent_active)
    await speak(session)  # "can you tell me" sounds unfinished to the model: the turn waits
    await asyncio.sleep(0.7)
    assert session.hearing.detector.texts == ["can you tell me"]
    assert not any(m.get("content") == "can you tell me" for m in session.messages)
    await speak(session)  # "...your hours please": finished
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()

    user = [m["content"] for m in session.messages if m["role"] == "user"]
    assert user == ["can you tell me your hours please"]
    _, timings = (await agent_turns(session.call_id))[-1]
    assert timings["turn_signal"] == "model" and timings["turn_score"] == 0.97
    assert timings["turn_end"] < 1000
    assert all(n > 0 for n in model.heard)  # the model heard the turn's audio


async def test_a_turn_the_model_calls_unfinished_ends_after_the_hold(build_session):
    session, transport = await build_session(texts=["what are your hours"])
    session.hearing.turn_model = FixedTurnModel(0.2)
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()
    _, timings = (await agent_turns(session.call_id))[-1]
    assert timings["turn_signal"] == "hold" and timings["turn_held_for"] == "model"
    assert timings["turn_end"] >= 1600 - 100  # the hold, counted from the VAD's end estimate


async def test_without_a_model_the_text_decides_and_says_so(build_session):
    session, transport = await build_session(texts=["what are your hours"])
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()
    _, timings = (await agent_turns(session.call_id))[-1]
    assert timings["turn_signal"] == "text" and "turn_score" not in timings


async def test_a_missing_turn_model_falls_back_to_the_vad_and_text(build_session):
    async def missing(pcm16_8k: bytes) -> float:
        raise ProviderError("no model", permanent=True, provider="smart_turn")

    session, transport = await build_session(texts=["what are your hours", "goodbye"])
    session.hearing.turn_model = missing
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()
    assert session.hearing.turn_model is None  # not asked again on this call


async def test_words_that_supersede_an_unheard_answer_join_the_earlier_words(build_session):
    """The caller paused, the turn ended, and they went on before any of the answer was heard:
    the model sees one message, as the caller meant it."""
    from calls.providers.base import LLM, Finished, TextDelta

    class SlowToAnswer(LLM):
        name = "slow"
        seen: list[list[dict]] = []

        async def stream(self, messages, tools):
            SlowToAnswer.seen.append([dict(m) for m in messages])
            await asyncio.sleep(0.5)
            yield TextDelta("A large coffee, coming up.")
            yield Finished()

    session, transport = await build_session(
        texts=["I would like a large", "coffee please"], llm=SlowToAnswer()
    )
    await until(lambda: not session.agent_active)
    await speak(session)
    await until(lambda: len(SlowToAnswer.seen) == 1)
    await speak(session)  # before the first answer was heard
    await until(lambda: session.messages[-1].get("content") == "A large coffee, coming up.")
    await session.close()
    users = [m["content"] for m in session.messages if m["role"] == "user"]
    assert users == ["I would like a large coffee please"]


def test_timings_read_as_people_read_them():
    turn = Turn(
        timings={"turn_end": 600, "endpoint": 260, "turn_signal": "model", "turn_score": 0.954}
    )
    assert turn.timing_parts() == [
        "endpoint 260 ms",
        "turn_end 600 ms",
        "turn_score 0.954",
        "turn_signal model",
    ]


async def test_two_questions_asked_while_the_recogniser_opens_are_both_answered(build_session):
    """Both utterances wait in the listener's replay, are transcribed one by one when the
    recogniser opens, and the answer covers both questions."""
    opened = asyncio.Event()
    stt = ScriptedSTT(["What are your hours?", "Is there parking?"])
    real_open = stt.open

    async def open_late(**options):
        await opened.wait()
        return await real_open(**options)

    stt.open = open_late
    session, transport = await build_session(stt=stt)
    await until(lambda: not session.agent_active)
    await speak(session)
    await speak(session)
    opened.set()

    def answered() -> bool:
        last = session.messages[-1]
        return last["role"] == "assistant" and "nine to five" in str(last.get("content"))

    await until(answered)
    await session.close()
    answer = session.messages[-1]["content"]
    assert "nine to five" in answer and "Park behind the shop" in answer
    assert await caller_turns(session.call_id) == ["What are your hours? Is there parking?"]
