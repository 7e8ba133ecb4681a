""" "Don't call me again" during a call: the number is listed at once (source "call", with the
call), the contact opted out, the person told so, and the call ended politely; the offline
brain hears it in whisper-like transcripts; inbound callers are honoured as well."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.models import Call, CallStatus, Turn
from calls.providers.base import Finished, ToolCalls
from calls.providers.scripted import ScriptedBrain
from calls.tests.conftest import _fresh_breakers, build_session, speak, until  # noqa: F401
from calls.tools import ToolContext, registry
from campaigns.do_not_call import TOLD_HIDDEN, TOLD_REMOVED
from campaigns.models import Contact, DoNotCall

CALLEE = "+14155550177"


def brain_context() -> ToolContext:
    return ToolContext(call_id=1, tenant_id=1, agent_id=1, caller=CALLEE)


async def tools_called(said: str) -> list[str]:
    tools = registry.for_agent(["end_call", "lookup_info", "do_not_call"])
    brain = ScriptedBrain(tools, brain_context())
    specs = [t.spec() for t in tools]
    events = [e async for e in brain.stream([{"role": "user", "content": said}], specs)]
    calls = [c.name for e in events if isinstance(e, ToolCalls) for c in e.calls]
    assert isinstance(events[-1], Finished)
    return calls


@pytest.mark.parametrize(
    "said",
    [
        "Please don't call me again.",
        " Don't call me anymore!",
        "Do not ever call me again, thank you.",
        "Never call this number again.",
        "Take me off your list.",
        "Could you take me off of your calling list?",
        "Remove me from your list please.",
        "Stop calling me.",
        "Please remove my number.",
        "Put me on your do not call list.",
        "I want to opt out.",
        "Hi. Yeah, no, please stop calling me.",
    ],
)
async def test_the_offline_brain_hears_the_request(said):
    assert await tools_called(said) == ["do_not_call"]


@pytest.mark.parametrize(
    "said",
    [
        "Can you call me again tomorrow?",
        "I don't mind if you call me back.",
        "Please call me again next week.",
        "What's on your list today?",
        "Don't call me Shirley.",
    ],
)
async def test_the_offline_brain_leaves_other_requests_alone(said):
    assert "do_not_call" not in await tools_called(said)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("direction", ["outbound", "inbound"])
async def test_the_tool_lists_the_number_at_once_and_ends_the_call(world_a, direction):
    contact = await sync_to_async(Contact.objects.create)(tenant=world_a.tenant, phone=CALLEE)
    ctx = ToolContext(
        call_id=world_a.call.pk,
        tenant_id=world_a.tenant.pk,
        agent_id=world_a.agent.pk,
        caller=CALLEE,  # the other party: the callee of an outbound call, an inbound caller
        direction=direction,
    )
    result = await registry.get("do_not_call").run(ctx, {"reason": "asked twice"})
    assert result.say == TOLD_REMOVED and result.end_call
    assert result.data == {"do_not_call": True, "phone": CALLEE, "already_listed": False}
    entry = await sync_to_async(DoNotCall.objects.get)()
    assert (entry.tenant_id, entry.phone, entry.source) == (world_a.tenant.pk, CALLEE, "call")
    assert entry.call_id == world_a.call.pk and entry.note == "asked twice"
    await sync_to_async(contact.refresh_from_db)()
    assert contact.opted_out
    again = await registry.get("do_not_call").run(ctx, {})
    assert again.data["already_listed"] and again.end_call
    assert await sync_to_async(DoNotCall.objects.count)() == 1


@pytest.mark.django_db(transaction=True)
async def test_a_hidden_number_cannot_be_listed_and_the_caller_is_told(world_a):
    ctx = ToolContext(world_a.call.pk, world_a.tenant.pk, world_a.agent.pk, caller="anonymous")
    result = await registry.get("do_not_call").run(ctx, {})
    assert result.say == TOLD_HIDDEN and result.end_call and not result.data["do_not_call"]
    assert not await sync_to_async(DoNotCall.objects.exists)()


async def test_a_caller_who_asks_is_listed_told_and_hung_up_on(build_session):  # noqa: F811
    session, transport = await build_session(
        texts=["Please don't call me again."], tools=("end_call", "do_not_call")
    )
    await until(lambda: "mark" in transport.kinds())
    await until(lambda: not session.agent_active)
    await speak(session)
    await asyncio.wait_for(transport.hung_up.wait(), 5)
    await session.wait_closed()

    call = await sync_to_async(Call.objects.get)(pk=session.call_id)
    entry = await sync_to_async(DoNotCall.objects.get)()
    # The build_session call is inbound, from +14155550000.
    assert (entry.tenant_id, entry.phone, entry.call_id) == (
        call.tenant_id,
        "+14155550000",
        call.pk,
    )
    turns = await sync_to_async(list)(
        Turn.objects.filter(call_id=call.pk).order_by("index").values_list("speaker", "text")
    )
    assert turns == [
        ("agent", "Hi."),
        ("caller", "Please don't call me again."),
        ("agent", TOLD_REMOVED),
    ]
    assert call.status == "completed" and call.outcome == "agent_ended"


# ---------------------------------------------------------------- after the call


def ended_call(world, direction: str, said: list[str]) -> Call:
    from django.utils import timezone

    call = Call.objects.create(
        tenant=world.tenant,
        agent=world.agent,
        direction=direction,
        from_number=world.number.number if direction == "outbound" else CALLEE,
        to_number=CALLEE if direction == "outbound" else world.number.number,
        status=CallStatus.IN_PROGRESS,
    )
    for index, text in enumerate(said):
        Turn.objects.create(
            call=call, index=index, speaker="caller", text=text, started_at=timezone.now()
        )
    return call


@pytest.mark.django_db
@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_a_request_the_agent_did_not_act_on_is_honoured_when_the_call_ends(
    world_a, django_capture_on_commit_callbacks, direction
):
    from calls.actions import finish_call

    contact = Contact.objects.create(tenant=world_a.tenant, phone=CALLEE)
    # An agent without the tool: the caller's words are in the transcript only.
    call = ended_call(world_a, direction, ["Who is this?", "Stop calling me, goodbye."])
    with django_capture_on_commit_callbacks(execute=True):
        finish_call(call.pk, outcome="agent_ended", source="test")
    entry = DoNotCall.objects.get()
    assert (entry.tenant_id, entry.phone, entry.source) == (world_a.tenant.pk, CALLEE, "call")
    assert entry.call_id == call.pk and entry.note == "Stop calling me, goodbye."
    contact.refresh_from_db()
    assert contact.opted_out


@pytest.mark.django_db
def test_a_call_without_such_a_request_lists_nobody(world_a, django_capture_on_commit_callbacks):
    from calls.actions import finish_call
    from campaigns.do_not_call import honour_requests_in_transcript

    call = ended_call(world_a, "outbound", ["Yes, Tuesday works.", "Call me again next week."])
    with django_capture_on_commit_callbacks(execute=True):
        finish_call(call.pk, outcome="agent_ended", source="test")
    assert not DoNotCall.objects.exists()
    assert honour_requests_in_transcript(10**9) is False  # a call that is gone
