"""On PostgreSQL the calls' records are written on a few threads: one call's write waiting on a
lock does not hold up every other call's records behind it."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.db import connection

from calls.engine.recorder import CallRecorder
from calls.models import CallEvent
from calls.tests.conftest import _make_call, until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_call_whose_records_wait_on_a_lock_does_not_hold_up_another_calls(settings):
    settings.RECORDER_STATEMENT_TIMEOUT_MS = 10_000
    stuck, free = await sync_to_async(_make_call)(), await sync_to_async(_make_call)()
    db = connection.settings_dict
    locker = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=False
    )
    stuck_records, free_records = CallRecorder(stuck.pk), CallRecorder(free.pk)
    try:
        # Another connection holds the stuck call's row: its events wait (an event's foreign key
        # needs a share lock on it).
        await asyncio.to_thread(
            locker.execute, "SELECT id FROM calls_call WHERE id = %s FOR UPDATE", [stuck.pk]
        )
        stuck_records.start()
        free_records.start()
        stuck_records.event("started")
        await asyncio.sleep(0.3)  # the stuck call's write is under way, and waiting
        free_records.event("started")
        await until(lambda: free_records.pending == 0, timeout=3)
        assert stuck_records.pending == 1
    finally:
        await asyncio.to_thread(locker.rollback)
        locker.close()
    await until(lambda: stuck_records.pending == 0, timeout=5)
    for recorder in (stuck_records, free_records):
        await recorder.close(outcome="caller_hung_up", audio=None)
    kinds = await sync_to_async(
        lambda: sorted(CallEvent.objects.filter(kind="started").values_list("call_id", flat=True))
    )()
    assert kinds == sorted([stuck.pk, free.pk])
