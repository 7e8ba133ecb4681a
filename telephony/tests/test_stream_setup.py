"""Opening a call on its stream's `start`: the database work is one read and one UPDATE."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import pytest
from channels.db import database_sync_to_async
from django.db.backends import utils

from calls.models import Call, CallEvent
from telephony import consumers
from telephony.tests.conftest import energy_vad  # noqa: F401
from telephony.tests.test_media_consumer import (  # noqa: F401
    _fresh_token_cache,
    call_state,
    communicator,
    live_world,
    receive_until,
    start_message,
)

pytestmark = pytest.mark.django_db(transaction=True)

CALL_TABLE = re.compile(r'^(SELECT .*? FROM "calls_call" |UPDATE "calls_call" )')


@contextmanager
def statements():
    """Every SQL statement run meanwhile, on any thread's connection (the consumer's database
    work runs in Channels' database thread, not the test's)."""
    seen: list[str] = []
    lock = threading.Lock()
    execute = utils.CursorWrapper._execute

    def counted(self, sql, params, *rest):
        with lock:
            seen.append(sql)
        return execute(self, sql, params, *rest)

    utils.CursorWrapper._execute = counted
    try:
        yield seen
    finally:
        utils.CursorWrapper._execute = execute


async def test_the_call_is_read_and_claimed_in_two_statements(live_world):  # noqa: F811
    comm = communicator()
    assert (await comm.connect())[0]  # the handshake's account lookup is not set-up's work
    with statements() as seen:
        await comm.send_to(text_data=start_message(live_world))
        await receive_until(comm, lambda m: m.get("event") == "media")
    await comm.disconnect()
    on_the_call = [sql for sql in seen if CALL_TABLE.match(sql)]
    assert len(on_the_call) == 2, on_the_call
    assert on_the_call[0].startswith("SELECT") and "calls_callevent" in on_the_call[0]
    assert on_the_call[1].startswith('UPDATE "calls_call"')
    # Besides: the orders app's start hook (the menu) and the recorder's first event.
    assert len(seen) <= 6, seen
    status, _, stream_sid, history = await call_state(live_world.call.pk)
    assert stream_sid == "MZ" + "1" * 32
    assert [h["status"] for h in history if h["status"] == "in-progress"] == ["in-progress"]


async def test_a_verdict_recorded_before_the_stream_comes_with_the_call(live_world, monkeypatch):  # noqa: F811
    seen: list[tuple[str, dict]] = []

    async def control(self, action, **data):
        seen.append((action, data))

    monkeypatch.setattr("calls.engine.session.CallSession.control", control)
    await database_sync_to_async(CallEvent.objects.create)(
        call=live_world.call, kind=CallEvent.Kind.AMD, data={"answered_by": "human"}
    )
    comm = communicator()
    assert (await comm.connect())[0]
    await comm.send_to(text_data=start_message(live_world))
    await receive_until(comm, lambda m: m.get("event") == "media")
    await comm.disconnect()
    assert seen == [("amd", {"answered_by": "human"})]


def test_a_status_callback_between_read_and_claim_is_kept(world_a):
    call = Call.objects.get(pk=world_a.call.pk)  # read as the stream's set-up reads it
    Call.objects.get(pk=call.pk).apply_status("in-progress", source="status callback")
    assert call.connect_stream("MZ" + "2" * 32, claim=True)
    call.refresh_from_db()
    assert call.stream_sid == "MZ" + "2" * 32 and call.heartbeat_at is not None
    assert [(h["status"], h["source"]) for h in call.status_history][-1] == (
        "in-progress",
        "status callback",
    )
    assert len([h for h in call.status_history if h["status"] == "in-progress"]) == 1


def test_a_second_stream_does_not_get_a_claimed_call(world_a):
    first, second = Call.objects.get(pk=world_a.call.pk), Call.objects.get(pk=world_a.call.pk)
    assert first.connect_stream("MZ" + "3" * 32, claim=True)
    assert not second.connect_stream("MZ" + "4" * 32, claim=True)
    assert Call.objects.get(pk=world_a.call.pk).stream_sid == "MZ" + "3" * 32


def test_an_ended_call_is_not_connected(world_a):
    call = Call.objects.get(pk=world_a.call.pk)
    Call.objects.get(pk=call.pk).apply_status("completed", source="status callback")
    assert not call.connect_stream("MZ" + "5" * 32, claim=True)
    assert Call.objects.get(pk=call.pk).stream_sid == ""


async def test_a_handshake_with_the_tokens_cached_needs_no_trip_to_the_database(
    live_world,  # noqa: F811
    monkeypatch,
):
    first = communicator()
    assert (await first.connect())[0]  # reads the accounts' tokens
    await first.disconnect()
    trips = []
    real = consumers.in_database_thread

    def counted(func, *args, **kwargs):
        trips.append(func.__name__)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(consumers, "in_database_thread", counted)
    second = communicator()
    assert (await second.connect())[0]
    await second.disconnect()
    forged = communicator(token="not-the-token")
    assert not (await forged.connect())[0]  # the cached tokens still refuse a forgery
    assert trips == []
