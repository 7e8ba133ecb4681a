"""Call start and end hooks: how an app takes part in every call without touching the engine.

An app registers, in its AppConfig.ready():

    @on_call_start
    async def load_menu(ctx: ToolContext) -> None: ...

    @on_call_end
    def record_abandoned_cart(ctx: ToolContext, outcome: str) -> None:
        cart = ctx.state_if_any(Cart)
        ...

A hook may be async or sync (a sync one runs in the database thread, so it may use the ORM).
Each runs once per call: start hooks before the agent first speaks (the sync ones within the
call's set-up, on its one trip to the database thread: run_sync_start_hooks), end hooks when
the call ends, however it ends (a hang-up, an error, a socket gone). A hook that raises or
takes longer than HOOK_TIMEOUT_SECONDS is logged and skipped; the others and the call go on.
Start hooks delay the greeting, so they should be quick.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async

from calls.cancellation import keep_cancellation
from calls.tools import ToolContext

log = logging.getLogger(__name__)

HOOK_TIMEOUT_SECONDS = 10.0

StartHook = Callable[[ToolContext], Any]
EndHook = Callable[[ToolContext, str], Any]
F = TypeVar("F", bound=Callable[..., Any])

_start: list[StartHook] = []
_end: list[EndHook] = []


def on_call_start(fn: F) -> F:
    """Register `fn(ctx)` to run when a call's session starts."""
    if fn not in _start:
        _start.append(fn)
    return fn


def on_call_end(fn: F) -> F:
    """Register `fn(ctx, outcome)` to run when a call's session ends."""
    if fn not in _end:
        _end.append(fn)
    return fn


def unregister(fn: Callable[..., Any]) -> None:
    """Forget `fn` (tests)."""
    for hooks in (_start, _end):
        if fn in hooks:
            hooks.remove(fn)


class _StartHooksRun(set):
    """The start hooks that already ran for a call (in its set-up)."""


def run_sync_start_hooks(ctx: ToolContext) -> None:
    """Run the sync start hooks now, in this thread: the call's set-up, already in the database
    thread, saves each its own trip there, and the greeting the wait for it in the queue of
    every call's database work. run_start_hooks then skips them. (A slow one delays the set-up
    as it delayed the greeting; it cannot be cut short at HOOK_TIMEOUT_SECONDS here.)"""
    ran = ctx.state(_StartHooksRun)
    for hook in list(_start):
        if inspect.iscoroutinefunction(hook) or hook in ran:
            continue
        ran.add(hook)
        try:
            hook(ctx)
        except Exception:  # an app's bug must not stop other apps' hooks or the call
            name = getattr(hook, "__qualname__", repr(hook))
            log.exception("call hook %s failed", name, extra={"call_id": ctx.call_id})


async def run_start_hooks(ctx: ToolContext) -> None:
    ran = ctx.state_if_any(_StartHooksRun) or set()
    for hook in list(_start):
        if hook not in ran:
            await _run(hook, ctx)


async def run_end_hooks(ctx: ToolContext, outcome: str) -> None:
    for hook in list(_end):
        await _run(hook, ctx, outcome)


async def _run(hook: Callable[..., Any], *args: Any) -> None:
    name = getattr(hook, "__qualname__", repr(hook))
    try:
        with keep_cancellation():  # a hook's client may turn the call's cancellation into an error
            async with asyncio.timeout(HOOK_TIMEOUT_SECONDS):
                if inspect.iscoroutinefunction(hook):
                    await hook(*args)
                else:
                    await database_sync_to_async(hook)(*args)
    except TimeoutError:
        log.error("call hook %s took over %s s, skipped", name, HOOK_TIMEOUT_SECONDS)
    except Exception:  # an app's bug must not stop other apps' hooks or the call's records
        log.exception("call hook %s failed", name, extra={"call_id": args[0].call_id})
