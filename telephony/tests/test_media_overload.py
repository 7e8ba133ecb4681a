"""The media consumer on an overloaded process: a call ends with its records even when Daphne
kills the consumer before it read the disconnect, and a start outlasts a database hiccup."""

from __future__ import annotations

import asyncio

import pytest
from django.db import OperationalError

from calls import live
from telephony.tests.test_media_consumer import (
    SILENCE,
    VOICE,
    call_state,
    communicator,
    event_kinds,
    live_world,  # noqa: F401  (a fixture)
    media,
    receive_until,
    start_message,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def wait_for_outcome(call_id: int, timeout: float = 10.0) -> tuple:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await call_state(call_id)
        if state[1] or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.1)


async def test_a_consumer_killed_before_it_read_the_disconnect_still_ends_its_call(live_world):  # noqa: F811
    comm = communicator()
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=start_message(live_world))
    await receive_until(comm, lambda m: m.get("event") == "mark")  # the greeting was said
    for n in range(10):
        await comm.send_to(text_data=media(VOICE if n < 6 else SILENCE, n))
    # Daphne cancels an application that has not finished APPLICATION_CLOSE_TIMEOUT after its
    # socket closed: here, before it ever saw the disconnect.
    comm.future.cancel()
    status, outcome, _sid, _history = await wait_for_outcome(live_world.call.pk)
    assert (status, outcome) == ("completed", "caller_hung_up")
    kinds = await event_kinds(live_world.call.pk)
    assert kinds.count("started") == 1 and kinds.count("ended") == 1


async def test_a_start_outlasts_a_moment_without_database_connections(live_world, monkeypatch):  # noqa: F811
    real_plan = live.plan_call
    failures = []

    def plan_after_a_pool_timeout(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("couldn't get a connection after 1.00 sec")
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(live, "plan_call", plan_after_a_pool_timeout)
    comm = communicator()
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=start_message(live_world))
    await receive_until(comm, lambda m: m.get("event") == "mark")  # greeted all the same
    assert len(failures) == 2
    await comm.send_to(text_data='{"event": "stop", "stop": {}}')
    await receive_until(comm, lambda m: m.get("event") == "__close__")
    status, outcome, _sid, _history = await wait_for_outcome(live_world.call.pk)
    assert (status, outcome) == ("completed", "caller_hung_up")
    await comm.disconnect()
