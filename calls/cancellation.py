"""A cancellation that a library turned into an ordinary error is a cancellation still.

Some clients catch the CancelledError that reaches them mid-request and raise an error of
their own instead (redis-py's asyncio client does, on a read it was cancelled in: a
TimeoutError, which it may then retry, and succeed). Code that treats that client's failures
as harmless (`except Exception`: the phrase cache is only a cache) then swallows the
cancellation itself, and a call's task that was told to stop goes on: an answer cut off by a
barge-in went on to its next sentence, and the session's close waited forever for it (a call
of the 200-call overload test never closed). `keep_cancellation` gives the cancellation back:
Python counts a task's cancellation requests (Task.cancelling); one that arrived during the
block and was not withdrawn (asyncio.timeout withdraws its own) means the task is being
cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keep_cancellation() -> Iterator[None]:
    """Raise CancelledError at the end of the block (for an Exception raised in it, or for
    none) when the current task was asked to stop meanwhile."""
    task = asyncio.current_task()
    before = task.cancelling() if task is not None else 0
    try:
        yield
    except Exception as error:
        if task is not None and task.cancelling() > before:
            raise asyncio.CancelledError() from error
        raise
    if task is not None and task.cancelling() > before:
        # Swallowed whole: the client retried after the error it made of the cancellation
        # (redis-py retries a timed-out command) and the block ended as if nothing happened.
        raise asyncio.CancelledError()
