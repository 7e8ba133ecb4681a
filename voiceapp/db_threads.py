"""Threads for database work reached from the event loop.

Sync code awaited from the loop runs, by default, on one thread for the whole process
(asgiref's thread-sensitive mode). With every webhook, every call's set-up and every call's
records on that one thread, a burst of calls queued each caller's set-up behind everyone's
webhooks: the greeting waited for the database thread, not for the database.

On PostgreSQL (a pool of connections; many writers at once) each kind of work gets a few threads
of its own, so their round trips overlap and one kind never waits behind another: `records`
(each call's writer still writes its batches in order), `call set-up` (the media socket's
handshake and the call's one set-up trip) and `http` (a request, middleware and view). Together
they stay well inside DATABASE_POOL_SIZE. SQLite takes one writer at a time, so there everything
stays on the one thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.db import connection

THREADS = {"records": 4, "call set-up": 4, "http": 4}

# A pool starts its threads only when work first comes, so building them here costs nothing.
_executors = {
    purpose: ThreadPoolExecutor(threads, thread_name_prefix=purpose.replace(" ", "-"))
    for purpose, threads in THREADS.items()
}


def in_database_thread(func: Callable[..., Any], purpose: str) -> Callable[..., Awaitable[Any]]:
    """`func` as an awaitable run on `purpose`'s threads (PostgreSQL), or on the process's one
    database thread (SQLite). Stale connections are closed before and after, as Channels does."""
    if connection.vendor != "postgresql":
        return database_sync_to_async(func)
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_executors[purpose])
