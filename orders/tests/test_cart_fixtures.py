"""Helpers for the ordering tests: a tenant's boba menu linked to its agent, a call context,
and running a registered tool as a call would (per-call schema, then the handler)."""

from __future__ import annotations

from unittest import mock

from asgiref.sync import async_to_sync, sync_to_async

from calls.tools import ToolContext, ToolResult, registry
from orders.cart import Cart
from orders.catalog import load_catalog
from orders.demo import boba_menu
from orders.models import Menu

CALLER = "+14155550101"


def boba(world, caller: str = CALLER) -> tuple[Menu, ToolContext]:
    """`world`'s tenant gets the boba menu, served by `world.agent`; a context for its call."""
    menu = boba_menu(world.tenant)
    menu.agents.add(world.agent)
    ctx = ToolContext(
        call_id=world.call.pk,
        tenant_id=world.tenant.pk,
        agent_id=world.agent.pk,
        caller=caller,
        time_zone=world.tenant.time_zone,
    )
    ctx.state(Cart).catalog = load_catalog(menu)
    return menu, ctx


def run(ctx: ToolContext, name: str, **arguments) -> ToolResult:
    """Run tool `name` as the call sees it: its per-call schema checks the arguments first.
    (asgiref's sync_to_async stands in for channels' database_sync_to_async, which would close
    the test's connection inside its transaction; the step still runs in this thread.)"""
    tool = registry.get(name).for_call(ctx)
    with mock.patch("orders.tools.database_sync_to_async", sync_to_async):
        return async_to_sync(tool.run)(ctx, arguments)


def say(ctx: ToolContext, name: str, **arguments) -> str:
    return run(ctx, name, **arguments).say


def brain_turn(ctx: ToolContext, text: str) -> tuple[list[tuple[str, dict]], str]:
    """What the scripted brain does with `text` (as whisper wrote it): the tool calls it makes
    (run, in order, as the engine would) and what the agent then says."""
    from calls.providers.base import TextDelta, ToolCalls
    from calls.providers.scripted import ScriptedBrain
    from orders.tools import ORDERING_TOOLS

    tools = [registry.get(n).for_call(ctx) for n in [*ORDERING_TOOLS, "end_call"]]
    brain = ScriptedBrain(tools, ctx)
    specs = [t.spec() for t in tools]

    async def events(messages):
        return [event async for event in brain.stream(messages, specs)]

    messages = [{"role": "user", "content": text}]
    calls = [
        c for e in async_to_sync(events)(messages) if isinstance(e, ToolCalls) for c in e.calls
    ]
    for call in calls:
        result = run(ctx, call.name, **call.arguments)
        messages.append({"role": "tool", "content": result.as_message_content()})
    spoken = "".join(e.text for e in async_to_sync(events)(messages) if isinstance(e, TextDelta))
    return [(c.name, c.arguments) for c in calls], spoken
