"""Who speaks first on a call the agent placed: the callee's "Hello?", or the carrier's
answering-machine verdict, before the greeting. And commands from outside the call."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.models import Call, CallEvent, Turn
from calls.tests.conftest import speak, until

pytestmark = pytest.mark.django_db(transaction=True)

GREETING = "Hi Ada, this is the bakery."


@sync_to_async
def turns(call_id):
    return list(
        Turn.objects.filter(call_id=call_id).order_by("index").values_list("speaker", "text")
    )


@sync_to_async
def outcome(call_id):
    return Call.objects.get(pk=call_id).outcome


async def test_the_agent_waits_for_the_callees_hello(build_session):
    session, transport = await build_session(
        texts=["Hello?"], greeting=GREETING, first_speaker="callee", callee_silence=30
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.kinds() == []  # not a word before the callee's
    await speak(session)
    await until(lambda: "mark" in transport.kinds())
    await until(lambda: not session.agent_active)
    await session.close("caller_hung_up")
    assert await turns(session.call_id) == [("caller", "Hello?"), ("agent", GREETING)]
    assert session.messages[1:] == [
        {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": GREETING},
    ]


async def test_a_silent_callee_is_greeted_after_a_while(build_session):
    session, transport = await build_session(
        greeting=GREETING, first_speaker="callee", callee_silence=0.3
    )
    await until(lambda: "mark" in transport.kinds())
    await until(lambda: not session.agent_active)
    await session.close("caller_hung_up")
    assert await turns(session.call_id) == [("agent", GREETING)]


async def test_a_human_verdict_brings_the_greeting(build_session):
    session, transport = await build_session(
        texts=["Hello?"], greeting=GREETING, first_speaker="machine_verdict"
    )
    await speak(session)  # heard before the verdict: kept, not answered
    await until(lambda: session.messages[-1] == {"role": "user", "content": "Hello?"})
    assert "media" not in transport.kinds()
    await session.control("amd", answered_by="human")
    await until(lambda: "mark" in transport.kinds())
    await until(lambda: not session.agent_active)
    await session.close("caller_hung_up")
    assert await turns(session.call_id) == [("caller", "Hello?"), ("agent", GREETING)]


async def test_a_machine_gets_the_voicemail_line_then_a_hang_up(build_session):
    session, transport = await build_session(
        greeting=GREETING,
        first_speaker="machine_verdict",
        voicemail="Hi Ada, your order is ready. Bye!",
    )
    await session.control("amd", answered_by="machine_end_beep")
    await asyncio.wait_for(transport.hung_up.wait(), 10)
    await session.wait_closed()
    assert await turns(session.call_id) == [("agent", "Hi Ada, your order is ready. Bye!")]
    assert await outcome(session.call_id) == "voicemail_left"


async def test_a_machine_without_a_voicemail_line_is_hung_up_on(build_session):
    session, transport = await build_session(greeting=GREETING, first_speaker="machine_verdict")
    await session.control("amd", answered_by="machine_start")
    await asyncio.wait_for(transport.hung_up.wait(), 10)
    await session.wait_closed()
    assert await turns(session.call_id) == []
    assert "media" not in transport.kinds()
    assert await outcome(session.call_id) == "answering_machine"


async def test_no_verdict_in_time_greets_anyway(build_session):
    session, transport = await build_session(
        greeting=GREETING, first_speaker="machine_verdict", verdict_timeout=0.2
    )
    await until(lambda: "mark" in transport.kinds())
    await until(lambda: not session.agent_active)
    await session.control("amd", answered_by="machine_start")  # too late: changes nothing
    await session.close("caller_hung_up")
    assert await turns(session.call_id) == [("agent", GREETING)]
    assert await outcome(session.call_id) == "caller_hung_up"


async def test_say_speaks_a_line_and_hang_up_ends_the_call_now(build_session):
    session, transport = await build_session()
    await until(lambda: "mark" in transport.kinds())
    await until(lambda: not session.agent_active)
    await session.control("say", text="Your table is ready.")
    await until(lambda: session.messages[-1].get("content") == "Your table is ready.")
    before = transport.audio_seconds()
    await session.control("say", text="A very long line that staff want to cut short. " * 20)
    await until(lambda: transport.audio_seconds() > before + 0.5)
    await session.control("hang_up")
    await asyncio.wait_for(transport.hung_up.wait(), 5)
    await session.wait_closed()
    assert await outcome(session.call_id) == "staff_hung_up"
    said = await turns(session.call_id)
    assert said[:2] == [("agent", "Hi."), ("agent", "Your table is ready.")]
    # Cut off at once, not played out (ten seconds of it) before the hang-up.
    long_line = await sync_to_async(Turn.objects.get)(call_id=session.call_id, index=2)
    assert long_line.interrupted and len(long_line.text) < 500
    controls = await sync_to_async(list)(
        CallEvent.objects.filter(call_id=session.call_id, kind="control").values_list(
            "data", flat=True
        )
    )
    assert [c["action"] for c in controls] == ["say", "say", "hang_up"]
