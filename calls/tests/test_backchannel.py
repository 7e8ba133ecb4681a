"""Backchannels are not interruptions: "mhm", "yeah", "okay", "right" said while the agent talks
hold its audio back for a moment and then let it go on where it stopped, and the transcript keeps
the caller's word; a real interruption still stops the agent at once."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.engine.barge_in import INTERRUPT_AFTER, is_backchannel
from calls.models import CallEvent
from calls.tests.conftest import speak, until
from calls.tests.doubles import VOICE, ToneTTS
from calls.tests.test_session import turns

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "This is a long greeting that goes on for a while. It has a second sentence too."


@sync_to_async
def kinds(call_id):
    return list(CallEvent.objects.filter(call_id=call_id).values_list("kind", flat=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mm-hmm.", True),
        ("mhm", True),
        ("Yeah.", True),
        ("Okay, right.", True),
        ("Uh-huh", True),
        ("Wait, no, I want a latte.", False),
        ("What are your hours?", False),
        ("", False),
        ("yeah yeah yeah yeah", False),
    ],
)
def test_what_counts_as_a_backchannel(text, expected):
    assert is_backchannel(text) is expected


async def test_a_backchannel_lets_the_agent_finish_what_it_was_saying(build_session):
    session, transport = await build_session(
        texts=["Mm-hmm."], greeting=LONG, tts=ToneTTS(ms_per_char=25)
    )
    await until(lambda: transport.audio_seconds() > 0.6)
    await speak(session, frames=8, silence=5)
    assert "clear" in transport.kinds()  # held back at once, while it listened
    await until(lambda: not session.agent_active, timeout=10)
    await session.close()

    assert await turns(session.call_id) == [
        ("agent", LONG, False),  # said in full, not cut
        ("caller", "Mm-hmm.", False),  # the caller's word is in the transcript
    ]
    events = await kinds(session.call_id)
    assert "backchannel" in events and "barge_in" not in events
    assert not any(m.get("content") == "Mm-hmm." for m in session.messages)  # not a turn
    # Everything the agent said was sent, none twice over: the held audio went on from where
    # playback stopped.
    spoken = len(LONG) * 25 / 1000
    assert spoken - 0.05 <= transport.audio_seconds() <= spoken + 0.5


async def test_a_real_interruption_stops_the_agent_and_is_answered(build_session):
    session, transport = await build_session(
        texts=["Wait, what are your hours?"], greeting=LONG, tts=ToneTTS(ms_per_char=25)
    )
    await until(lambda: transport.audio_seconds() > 0.6)
    await speak(session, frames=8, silence=5)
    await until(lambda: session.messages[-1].get("content") == "We are open from nine to five.")
    await session.close()

    first = (await turns(session.call_id))[0]
    assert first[0] == "agent" and first[2] is True
    assert first[1] and LONG.startswith(first[1]) and len(first[1]) < len(LONG) / 2
    assert "barge_in" in await kinds(session.call_id)


async def test_speech_that_goes_on_is_an_interruption_before_its_words_are_known(build_session):
    session, transport = await build_session(
        texts=["I need to change my order please"], greeting=LONG, tts=ToneTTS(ms_per_char=25)
    )
    await until(lambda: transport.audio_seconds() > 0.6)

    async def talk_in_real_time(seconds: float) -> None:
        for _ in range(round(seconds / 0.02)):
            await session.on_audio(VOICE)
            await asyncio.sleep(0.02)
        await speak(session, frames=0, silence=5)

    talking = asyncio.ensure_future(talk_in_real_time(INTERRUPT_AFTER + 0.8))
    await until(lambda: not session.agent_active)
    assert not talking.done()  # the agent gave way while the caller was still talking
    await talking
    await until(
        lambda: session.messages[-1].get("role") == "assistant" and len(session.messages) > 3
    )
    await session.close()
    assert (await turns(session.call_id))[0][2] is True


async def test_a_cough_over_the_agent_lets_it_go_on(build_session):
    session, transport = await build_session(texts=[""], greeting=LONG, tts=ToneTTS(ms_per_char=25))
    await until(lambda: transport.audio_seconds() > 0.6)
    await speak(session, frames=8, silence=5)
    await until(lambda: not session.agent_active, timeout=10)
    await session.close()
    assert (await turns(session.call_id))[0] == ("agent", LONG, False)
    events = await kinds(session.call_id)
    assert "unheard" in events and "barge_in" not in events
