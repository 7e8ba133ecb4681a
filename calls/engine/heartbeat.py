"""The calls this process holds, and proof that it is still alive.

Every live session registers here. One task per event loop touches `Call.heartbeat_at` of all of
them in a single UPDATE every CALL_HEARTBEAT_SECONDS: a call whose process dies (kill -9, a lost
host) stops beating, and the reaper (calls.reaper) finalizes it. On shutdown, `close_all` ends
every session through its normal close, so its last records are written and it gets a final
status without waiting for the reaper.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from calls import lines
from calls.models import Call, CallStatus

log = logging.getLogger(__name__)


class LiveSession(Protocol):
    call_id: int

    async def close(self, outcome: str = "") -> None: ...


class LiveCalls:
    def __init__(self) -> None:
        self._sessions: dict[int, LiveSession] = {}
        self._beat: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, call_id: int) -> bool:
        return call_id in self._sessions

    def add(self, session: LiveSession) -> None:
        self._sessions[session.call_id] = session
        loop = asyncio.get_running_loop()
        if self._beat is None or self._beat.done() or self._beat.get_loop() is not loop:
            self._beat = loop.create_task(self._beating(), name="call-heartbeat")

    def discard(self, session: LiveSession) -> None:
        if self._sessions.get(session.call_id) is session:
            del self._sessions[session.call_id]

    async def _beating(self) -> None:
        while self._sessions:
            await asyncio.sleep(settings.CALL_HEARTBEAT_SECONDS)
            ids = list(self._sessions)
            if not ids:
                return
            try:
                await database_sync_to_async(_touch)(ids)
            except DatabaseError as error:  # the next beat may pass; the reaper allows for it
                log.warning("call heartbeat not written: %s", str(error).strip()[:200])

    async def close_all(self, outcome: str, *, timeout: float) -> int:
        """Close every live session (its last records written) within `timeout` seconds.
        Returns how many closed; the others are left to the reaper."""
        sessions = list(self._sessions.values())
        if not sessions:
            return 0
        log.warning("closing %d live calls (%s)", len(sessions), outcome)
        tasks = [asyncio.ensure_future(session.close(outcome)) for session in sessions]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            log.error(
                "%d calls not closed within %s s; the reaper will finalize them",
                len(pending),
                timeout,
                extra={"call_ids": [s.call_id for s in sessions if s.call_id in self]},
            )
        return len(done)

    async def close_for_shutdown(self, close_timeout: float) -> int:
        """The web server is stopping (either server's graceful shutdown): every live call is
        closed with the outcome "server_shutdown", a second inside the server's own
        `close_timeout` for the calls' last records."""
        return await self.close_all(SHUTDOWN_OUTCOME, timeout=max(1, close_timeout - 1))


SHUTDOWN_OUTCOME = "server_shutdown"


def _touch(call_ids: list[int]) -> None:
    Call.objects.filter(pk__in=call_ids, status=CallStatus.IN_PROGRESS).update(
        heartbeat_at=timezone.now()
    )
    lines.renew(call_ids)  # their tenants' lines stay held while they beat (calls.lines)


live_calls = LiveCalls()
