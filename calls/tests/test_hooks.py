"""What an app plugs into every call: typed per-call state for its tools, and call start and
end hooks that run once however the call ends."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls import hooks
from calls.engine.session import TransportClosed
from calls.models import Call, CallEvent
from calls.tests.conftest import speak, until
from calls.tests.doubles import RecordingTransport, ToneTTS
from calls.tools import ToolContext, ToolResult, tool

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Cart:
    items: list[str] = field(default_factory=list)


@dataclass
class Loyalty:
    stamps: int = 0


@tool(
    "test_add_to_cart",
    "Put an item in the caller's cart.",
    {
        "type": "object",
        "properties": {"item": {"type": "string"}},
        "required": ["item"],
        "additionalProperties": False,
    },
    intents=[r"\bi'?d like an? (?P<item>[a-z]+)"],
)
async def add_to_cart(ctx: ToolContext, item: str) -> ToolResult:
    cart = ctx.state(Cart)
    cart.items.append(item)
    return ToolResult({"items": cart.items}, say=f"One {item}, got it.")


@tool("test_stamp", "Give a loyalty stamp.", intents=[r"\bstamp\b"])
async def stamp(ctx: ToolContext) -> ToolResult:
    ctx.state(Loyalty).stamps += 1
    return ToolResult({"stamps": ctx.state(Loyalty).stamps}, say="Stamped.")


def test_state_is_one_instance_per_class_and_call():
    ctx = ToolContext(call_id=1, tenant_id=1, agent_id=1, caller="+14155550000")
    other_call = ToolContext(call_id=2, tenant_id=1, agent_id=1, caller="+14155550000")
    assert ctx.state_if_any(Cart) is None
    cart = ctx.state(Cart)
    cart.items.append("latte")
    assert ctx.state(Cart) is cart and ctx.state_if_any(Cart) is cart
    assert ctx.state(Loyalty) == Loyalty(stamps=0)  # another app's state: its own object
    assert other_call.state(Cart).items == []


class Seen:
    """Records what the hooks were called with."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[tuple[int, str, list[str] | None, int | None]] = []


@pytest.fixture
def seen():
    record = Seen()

    async def started(ctx: ToolContext) -> None:
        record.starts.append(ctx.call_id)

    def ended(ctx: ToolContext, outcome: str) -> None:  # a sync hook, run in the db thread
        cart, loyalty = ctx.state_if_any(Cart), ctx.state_if_any(Loyalty)
        record.ends.append(
            (
                ctx.call_id,
                outcome,
                cart.items if cart else None,
                loyalty.stamps if loyalty else None,
            )
        )
        # It may use the ORM: the call's row is still open for business.
        assert Call.objects.filter(pk=ctx.call_id, outcome="").exists()

    hooks.on_call_start(started)
    hooks.on_call_end(ended)
    yield record
    hooks.unregister(started)
    hooks.unregister(ended)


@sync_to_async
def outcome_and_events(call_id):
    call = Call.objects.get(pk=call_id)
    return call.outcome, list(CallEvent.objects.filter(call=call).values_list("kind", flat=True))


async def test_tools_share_the_calls_state_and_the_end_hook_sees_it(build_session, seen):
    session, transport = await build_session(
        texts=["I'd like a latte", "I'd like a muffin", "stamp"],
        tools=("test_add_to_cart", "test_stamp", "end_call"),
    )
    assert seen.starts == [session.call_id]
    for answer in ("One latte, got it.", "One muffin, got it.", "Stamped."):
        await until(lambda: not session.agent_active)
        await speak(session)
        await until(lambda a=answer: session.messages[-1].get("content") == a)
    await session.close("caller_hung_up")
    await session.close("caller_hung_up")  # the consumer's disconnect, later: no second run
    assert seen.ends == [(session.call_id, "caller_hung_up", ["latte", "muffin"], 1)]
    assert seen.starts == [session.call_id]


async def test_end_hooks_run_once_when_the_call_fails(build_session, seen):
    class BrokenTTS(ToneTTS):
        async def synthesize(self, text, *, voice="", language="en"):
            raise RuntimeError("a bug in the voice")
            yield b""

    session, transport = await build_session(tts=BrokenTTS(), tts_fallback=BrokenTTS())
    await asyncio.wait_for(session.wait_closed(), 10)
    await session.close("caller_hung_up")
    assert seen.ends == [(session.call_id, "error", None, None)]
    outcome, kinds = await outcome_and_events(session.call_id)
    assert outcome == "error" and kinds.count("ended") == 1


async def test_end_hooks_run_once_when_the_socket_dies(build_session, seen, monkeypatch):
    class DyingTransport(RecordingTransport):
        async def send_audio(self, mulaw: bytes) -> None:
            raise TransportClosed("Attempt to send on a closed protocol")

    monkeypatch.setattr("calls.tests.conftest.RecordingTransport", DyingTransport)
    session, _ = await build_session(tts=ToneTTS(ms_per_char=100))
    await asyncio.wait_for(session.wait_closed(), 10)
    await session.close("caller_hung_up")
    assert seen.ends == [(session.call_id, "stream_closed", None, None)]


@pytest.fixture
def broken_hooks(monkeypatch):
    """Hooks that fail or hang, registered before `seen`'s (so they run first)."""
    monkeypatch.setattr(hooks, "HOOK_TIMEOUT_SECONDS", 0.2)

    async def broken_start(ctx):
        raise ValueError("start hook bug")

    def broken_end(ctx, outcome):
        raise ValueError("end hook bug")

    async def hanging_end(ctx, outcome):
        await asyncio.sleep(3600)

    hooks.on_call_start(broken_start)
    hooks.on_call_end(broken_end)
    hooks.on_call_end(hanging_end)
    yield
    for hook in (broken_start, broken_end, hanging_end):
        hooks.unregister(hook)


async def test_a_failing_or_hanging_hook_does_not_stop_the_others(
    build_session, broken_hooks, seen, caplog
):
    with caplog.at_level(logging.ERROR):
        session, transport = await build_session()
        await until(lambda: "mark" in transport.kinds())  # greeted despite the start bug
        await session.close("caller_hung_up")
    assert seen.starts == [session.call_id]
    assert seen.ends == [(session.call_id, "caller_hung_up", None, None)]
    outcome, kinds = await outcome_and_events(session.call_id)
    assert outcome == "caller_hung_up" and "ended" in kinds
    for expected in ("start hook bug", "end hook bug", "took over"):
        assert expected in caplog.text


async def test_registering_twice_runs_once():
    calls = []

    def hook(ctx, outcome):
        calls.append(outcome)

    hooks.on_call_end(hook)
    hooks.on_call_end(hook)
    try:
        await hooks.run_end_hooks(ToolContext(1, 1, 1, "+14155550000"), "agent_ended")
    finally:
        hooks.unregister(hook)
    await hooks.run_end_hooks(ToolContext(1, 1, 1, "+14155550000"), "agent_ended")
    assert calls == ["agent_ended"]


def test_a_tool_schema_is_built_per_call_from_its_context():
    from calls.tools import Tool

    async def handler(ctx, **arguments):
        return ToolResult({"ok": True})

    def schema_for(ctx):
        return {
            "type": "object",
            "properties": {"item": {"enum": ctx.knowledge["items"].split(",")}},
            "required": ["item"],
        }

    generic = Tool("test_order", "Order.", {"type": "object"}, handler, schema_for=schema_for)
    ctx = ToolContext(call_id=1, tenant_id=1, agent_id=1, caller="+1", knowledge={"items": "a,b"})
    bound = generic.for_call(ctx)
    assert bound.spec().parameters["properties"]["item"]["enum"] == ["a", "b"]
    assert generic.parameters == {"type": "object"}  # the registered tool is unchanged
    refused = asyncio.run(bound.run(ctx, {"item": "c"}))
    assert "invalid arguments" in refused.data["error"]
    assert asyncio.run(bound.run(ctx, {"item": "a"})).data == {"ok": True}
