"""How late the event loop runs while this process carries calls.

Every call's audio in a process waits on the one event loop: when it runs late, every caller
hears the agent late, and a process past its capacity shows here first. While calls are up, a
timer is set every 100 ms and how late it fired is observed (`voice_event_loop_lag_seconds`).
The watch starts with the process's first call on a loop and stops with its last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

INTERVAL = 0.1
_watches: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def watch(observe: Callable[[float], None]) -> None:
    """Watch the running loop, if it is not watched already (called as a call starts): how
    late each timer fired, in seconds, goes to `observe`."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on a loop: nothing to watch
        return
    for closed in [other for other in _watches if other.is_closed()]:
        del _watches[closed]  # a loop gone (a server restarted in process, a test's loop)
    task = _watches.get(loop)
    if task is None or task.done():
        _watches[loop] = loop.create_task(_watch(observe), name="loop-lag")


def unwatch() -> None:
    """Stop watching the running loop (its last call ended)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = _watches.pop(loop, None)
    if task is not None:
        task.cancel()


async def _watch(
    observe: Callable[[float], None], interval: float = INTERVAL, clock=time.monotonic
) -> None:
    while True:
        due = clock() + interval
        await asyncio.sleep(interval)
        observe(max(0.0, clock() - due))
