"""The tasks of one call: named for the call, a failure logged and recorded, all cancelled at
the end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from calls.engine.recorder import CallRecorder

log = logging.getLogger(__name__)

CANCEL_PATIENCE_SECONDS = 5.0


class CallTasks:
    def __init__(
        self, call_id: int, recorder: CallRecorder, on_failure: Callable[[], None]
    ) -> None:
        self.call_id, self.recorder, self.on_failure = call_id, recorder, on_failure
        self._tasks: set[asyncio.Task] = set()

    @property
    def count(self) -> int:
        return sum(1 for t in self._tasks if not t.done())

    def spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"call-{self.call_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        log.error("call task failed", exc_info=task.exception(), extra={"call_id": self.call_id})
        self.recorder.event("error", task=task.get_name(), error=repr(task.exception()))
        self.on_failure()

    async def cancel_all(self, patience: float = CANCEL_PATIENCE_SECONDS) -> None:
        """Cancel every task but the one asking, and wait for them to finish: `patience`
        seconds at most. A task still running then did not stop when told (a cancellation
        swallowed somewhere below it: calls.cancellation): it is logged and left behind, so
        the call's end, its records and its final status, never waits on it."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=patience)
        for task in stuck:
            frames = task.get_stack(limit=1)
            where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else ""
            log.error(
                "call task %s did not stop when cancelled (at %s); the call ends without it",
                task.get_name(),
                where,
                extra={"call_id": self.call_id},
            )
            self.recorder.event("error", task=task.get_name(), error="did not stop when cancelled")
