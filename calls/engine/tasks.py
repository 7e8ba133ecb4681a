"""The tasks of one call: named for the call, a failure logged and recorded, all cancelled at
the end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from calls.engine.recorder import CallRecorder

log = logging.getLogger(__name__)


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

    async def cancel_all(self) -> None:
        """Cancel every task but the one asking, and wait for them to finish."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
