"""Database work reached from the event loop: on PostgreSQL each kind has threads of its own, so a
call's set-up never queues behind the process's one database thread (webhooks, the admin);
on SQLite, one writer at a time, everything stays on that thread."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async

from voiceapp import db_threads

pytestmark = pytest.mark.django_db(transaction=True)


def _busy_for(seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name


async def test_a_call_set_up_does_not_wait_behind_the_one_database_thread(world_a):
    from calls.models import Call

    def read_the_call() -> str:
        Call.objects.get(pk=world_a.call.pk)
        return threading.current_thread().name

    held = asyncio.create_task(database_sync_to_async(_busy_for)(1.5))  # a slow webhook
    await asyncio.sleep(0.1)
    started = time.monotonic()
    thread = await db_threads.in_database_thread(read_the_call, "call set-up")()
    assert time.monotonic() - started < 1.0
    assert thread.startswith("call-set-up")
    one_thread = await held
    assert not one_thread.startswith(("call-set-up", "records", "http"))


@pytest.mark.parametrize("purpose", sorted(db_threads.THREADS))
async def test_each_kind_of_work_runs_on_its_own_threads(purpose):
    name = await db_threads.in_database_thread(_busy_for, purpose)(0)
    assert name.startswith(purpose.replace(" ", "-"))


async def test_on_sqlite_everything_stays_on_the_one_thread(monkeypatch):
    monkeypatch.setattr(db_threads, "connection", SimpleNamespace(vendor="sqlite"))
    one = await database_sync_to_async(_busy_for)(0)
    for purpose in db_threads.THREADS:
        assert await db_threads.in_database_thread(_busy_for, purpose)(0) == one
