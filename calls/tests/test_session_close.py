"""A session ends once, with its records, however it ends: the carrier's socket gone under a
send, the consumer cancelled mid-close (Daphne's application close timeout), or the server
shutting down. And while it lives, its process beats for it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.engine.heartbeat import live_calls
from calls.engine.session import TransportClosed
from calls.models import Call, CallEvent, CallStatus
from calls.tests.conftest import speak, until
from calls.tests.doubles import RecordingTransport, ToneTTS

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def ended(call_id):
    call = Call.objects.get(pk=call_id)
    return call, list(CallEvent.objects.filter(call=call).values_list("kind", "data"))


class ClosingTransport(RecordingTransport):
    """A carrier whose socket goes away: every send then raises, as Daphne's does."""

    gone = False

    async def send_audio(self, mulaw: bytes) -> None:
        if self.gone:
            raise TransportClosed("Attempt to send on a closed protocol")
        await super().send_audio(mulaw)

    async def send_mark(self, name: str) -> None:
        if self.gone:
            raise TransportClosed("Attempt to send on a closed protocol")
        await super().send_mark(name)

    async def send_clear(self) -> None:
        if self.gone:
            raise TransportClosed("Attempt to send on a closed protocol")
        await super().send_clear()


async def test_a_send_to_a_closed_socket_ends_the_session_once(build_session, monkeypatch, caplog):
    """As found: the playout's send raising on a closed socket was a task failure (a
    traceback, an error event, a hang-up attempt) per call. Now the session ends through its
    normal close, once, with its records."""
    monkeypatch.setattr("calls.tests.conftest.RecordingTransport", ClosingTransport)
    session, transport = await build_session(tts=ToneTTS(ms_per_char=100))
    await until(lambda: transport.audio_seconds() > 0.2)
    with caplog.at_level(logging.ERROR):
        transport.gone = True
        await asyncio.wait_for(session.wait_closed(), 10)
        await speak(session)  # late frames from the wire change nothing
        await session.close("caller_hung_up")  # the consumer's disconnect comes later
    call, events = await ended(session.call_id)
    kinds = [kind for kind, _ in events]
    assert kinds.count("ended") == 1 and "error" not in kinds
    assert call.status == "completed" and call.outcome == "stream_closed"
    assert "hangup" not in transport.kinds()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert session.task_count == 0


async def test_a_close_whose_caller_is_cancelled_still_finishes(build_session):
    """As found under load: Daphne cancelled the consumer while it was closing the session
    ("took too long to shut down and was killed"), and the call never got its "ended" event
    nor a final status. Now the close runs on regardless."""
    session, transport = await build_session(tts=ToneTTS(ms_per_char=100))
    await until(lambda: transport.audio_seconds() > 0.2)
    closing = asyncio.create_task(session.close("caller_hung_up"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    closing.cancel()
    await asyncio.gather(closing, return_exceptions=True)
    await asyncio.wait_for(session.wait_closed(), 10)
    call, events = await ended(session.call_id)
    assert events[-1] == ("ended", {"outcome": "caller_hung_up"})
    assert call.status == "completed" and call.outcome == "caller_hung_up"


async def test_shutdown_closes_every_live_call_with_its_records(build_session):
    first, _ = await build_session()
    second, _ = await build_session()
    assert first.call_id in live_calls and second.call_id in live_calls
    assert await live_calls.close_all("server_shutdown", timeout=10) == 2
    for session in (first, second):
        call, events = await ended(session.call_id)
        assert events[-1] == ("ended", {"outcome": "server_shutdown"})
        assert call.status == "completed" and call.outcome == "server_shutdown"
        assert session.call_id not in live_calls


async def test_a_live_call_beats_until_it_ends(build_session, settings):
    settings.CALL_HEARTBEAT_SECONDS = 0.05
    session, _ = await build_session()
    await Call.objects.filter(pk=session.call_id).aupdate(status=CallStatus.IN_PROGRESS)

    async def heartbeat():
        return (await Call.objects.aget(pk=session.call_id)).heartbeat_at

    first = None
    for _ in range(200):
        first = await heartbeat()
        if first is not None:
            break
        await asyncio.sleep(0.05)
    assert first is not None
    for _ in range(200):
        if await heartbeat() > first:
            break
        await asyncio.sleep(0.05)
    assert await heartbeat() > first
    await session.close("caller_hung_up")
    assert session.call_id not in live_calls
