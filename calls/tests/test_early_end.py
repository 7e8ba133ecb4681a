"""Ending a turn before the silence runs out: while the VAD still counts a pause, a
per-utterance recogniser guesses at the words and the turn model listens; a turn that both call
finished, and whose text does not hang ("... and", a digit), ends at once. A caller who goes on
voids the guess."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.engine.hearing import EARLY_PAUSE_MS
from calls.models import Turn
from calls.providers import local_stt
from calls.tests.conftest import speak, until
from calls.tests.doubles import EnergyVad, ScriptedSTT
from calls.tests.test_hearing import FixedTurnModel

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "We are open from nine to five."
LONG_STOP = 50  # frames of silence the VAD waits for: a whole second


@sync_to_async
def last_answer_timings(call_id):
    turn = Turn.objects.filter(call_id=call_id, speaker="agent").order_by("index").last()
    return turn.timings


async def build(build_session, *, texts, guesses, scores, greeting="Hi."):
    stt = ScriptedSTT(texts, guesses=guesses)
    session, _transport = await build_session(stt=stt, greeting=greeting)
    session.hearing.vad = EnergyVad(stop_frames=LONG_STOP)
    session.hearing.turn_model = FixedTurnModel(*scores)
    await until(lambda: not session.agent_active)
    return session, stt


async def answered(session) -> None:
    await until(lambda: session.messages[-1].get("content") == ANSWER)


async def test_a_turn_that_sounds_finished_ends_before_the_silence_runs_out(build_session):
    session, stt = await build(
        build_session, texts=["what are your hours"], guesses=["what are your hours"], scores=[0.98]
    )
    await speak(session, frames=10, silence=12)  # 240 ms of pause: the VAD wants 1 s
    await answered(session)
    assert not session.hearing.vad.speaking  # the guess ended the speech, not the VAD
    await session.close()
    timings = await last_answer_timings(session.call_id)
    assert timings["turn_signal"] == "model" and timings["turn_score"] == 0.98
    assert EARLY_PAUSE_MS <= timings["turn_early_ms"] < LONG_STOP * 20
    assert [m["content"] for m in session.messages if m["role"] == "user"] == [
        "what are your hours"
    ]


async def test_a_caller_who_goes_on_voids_the_guess(build_session):
    session, stt = await build(
        build_session,
        texts=["what are your hours"],
        guesses=["what are", "what are your hours"],
        scores=[0.98, 0.98],
    )
    await speak(session, frames=10, silence=3)  # 60 ms: too short a pause to end on
    await asyncio.sleep(0.05)
    await speak(session, frames=10, silence=12)
    await answered(session)
    await session.close()
    assert stt.forgotten == 1
    assert [m["content"] for m in session.messages if m["role"] == "user"] == [
        "what are your hours"
    ]
    assert (await last_answer_timings(session.call_id))["turn_early_ms"] >= EARLY_PAUSE_MS


@pytest.mark.parametrize(
    ("guess", "score"),
    [
        ("I'd like a large and", 0.98),
        ("my number is 415", 0.98),
        ("what are your hours", 0.8),
        ("Can you tell me where you", 0.98),
    ],
    ids=["text-hangs", "ends-in-a-digit", "model-unsure", "no-sentence-end-from-whisper"],
)
async def test_a_turn_that_may_go_on_waits_for_the_silence(build_session, guess, score):
    session, stt = await build(
        build_session, texts=["what are your hours"], guesses=[guess], scores=[score, 0.98]
    )
    stt.punctuates = guess.startswith("Can")  # whisper, which ends a finished sentence with "."
    await speak(session, frames=10, silence=12)
    await asyncio.sleep(0.2)
    assert session.hearing.vad.speaking  # still counting the silence out
    assert not any(m["role"] == "user" for m in session.messages[1:])
    await speak(session, frames=0, silence=LONG_STOP)
    await answered(session)
    await session.close()
    assert "turn_early_ms" not in await last_answer_timings(session.call_id)


@pytest.mark.parametrize(
    ("greeting", "text", "punctuates", "signal"),
    [
        ("Hi, how can I help?", "two please", False, "short_answer"),
        ("Hi, this is the shop.", "two please", False, None),
        ("Hi.", "Is there parking near the shop?", True, "question"),
        ("Hi.", "I would like a large coffee.", True, None),
    ],
)
async def test_a_short_answer_or_a_whole_question_ends_early_though_the_model_is_unsure(
    build_session, greeting, text, punctuates, signal
):
    """The model is least sure of one-word turns: after the agent's question a short answer it
    calls finished at all (0.8 here) ends at once, and so does a question whisper wrote whole
    (it ends "?" only on a question it heard whole). After a statement a short answer waits the
    silence, as does a statement the model is as unsure of."""
    session, stt = await build(
        build_session, texts=[text], guesses=[text], scores=[0.8], greeting=greeting
    )
    stt.punctuates = punctuates
    early = signal is not None
    await speak(session, frames=10, silence=12)
    await asyncio.sleep(0.2)
    assert session.hearing.vad.speaking is not early
    if not early:
        await speak(session, frames=0, silence=LONG_STOP)
    await until(lambda: session.messages[-1]["role"] == "assistant" and len(session.messages) > 2)
    await session.close()
    timings = await last_answer_timings(session.call_id)
    assert ("turn_early_ms" in timings) is early
    assert timings["turn_signal"] == (signal or "model_unsure")


async def test_whisper_answers_finalize_with_a_standing_guess(monkeypatch):
    heard: list[int] = []

    async def transcribe(pcm16, language="en", hints=None):
        heard.append(len(pcm16))
        return f"{len(heard)} takes"

    monkeypatch.setattr(local_stt, "transcribe", transcribe)
    session = local_stt.LocalWhisperSession("en", None)
    await session.send_audio(b"\x01\x00" * 1600)
    assert await session.guess() == "1 takes"
    await session.send_audio(b"\x00\x00" * 800)  # the pause
    await session.finalize()
    final = await anext(aiter(session.events()))
    assert final.text == "1 takes" and final.is_final and heard == [3200]

    await session.send_audio(b"\x01\x00" * 1600)
    await session.guess()
    session.forget_guess()  # the caller went on
    await session.send_audio(b"\x01\x00" * 1600)
    await session.finalize()
    final = await anext(aiter(session.events()))
    assert final.text == "3 takes" and heard == [3200, 3200, 6400]
    await session.close()


async def test_the_vad_ending_first_waits_for_the_guess_score_not_a_second_one(build_session):
    """The guess is slower than the VAD here: the turn takes the guess's score (the model is
    asked once) and the guess's text (the recogniser transcribes once)."""
    stt = ScriptedSTT(["what are your hours"], guesses=["what are your hours"], delay=0.3)
    session, _transport = await build_session(stt=stt)
    model = FixedTurnModel(0.97)
    session.hearing.turn_model = model
    await until(lambda: not session.agent_active)
    await speak(session, frames=10, silence=12)  # the VAD stops after 60 ms of quiet
    await answered(session)
    await session.close()
    assert len(model.heard) == 1
    timings = await last_answer_timings(session.call_id)
    assert timings["turn_signal"] == "model" and timings["turn_score"] == 0.97
    assert "turn_early_ms" not in timings
