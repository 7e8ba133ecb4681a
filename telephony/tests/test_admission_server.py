"""Admission control on a real server (`manage.py serve`): the line a call holds stays taken
while its server beats, and frees itself when that server is killed (kill -9 releases
nothing); the caller over the cap meanwhile hears that all lines are busy."""

from __future__ import annotations

import asyncio
import signal

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from calls.models import Call, CallStatus
from telephony.simulator import CallRefused
from telephony.tests.test_admission import busy, connected, ring
from telephony.tests.test_durability import _call_in_progress, bench_agent, serve
from telephony.tests.test_end_to_end import caller_for
from telephony.twiml import LINES_BUSY_MESSAGE

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_killed_servers_line_frees_itself_and_admits_the_next_caller(
    world_a, twilio_rest, line_store, settings
):
    settings.CALL_HEARTBEAT_STALE_SECONDS = 2  # as the server's (test_durability.serve)
    await database_sync_to_async(bench_agent)(world_a)
    world_a.tenant.max_concurrent_calls = 1
    await world_a.tenant.asave()
    # The database store is the embedded default: a server without Redis.
    env = {"TEST_REDIS_URL": ""} if line_store == "database" else {}
    with serve(twilio_rest, **env) as (process, port):
        url = f"http://127.0.0.1:{port}"
        caller = caller_for(world_a, url)
        talking = asyncio.create_task(caller.run([]))
        try:
            call = await _call_in_progress(caller, beats=3)  # beaten past its first hold
            # Over the cap, through the same server: the busy message, and the Call says so.
            over = caller_for(world_a, url)
            with pytest.raises(CallRefused, match=LINES_BUSY_MESSAGE.split(".")[0]):
                await over.run([])
            refused = await Call.objects.aget(twilio_call_sid=over.call_sid)
            assert refused.status == CallStatus.COMPLETED and refused.outcome == "lines_busy"
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
        finally:
            await asyncio.gather(talking, return_exceptions=True)

    await call.arefresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS  # nobody ended it, nobody released its line
    # Within the stale limit of its last beat the line is free again (no reaper needed).
    twiml = None
    for n in range(40):
        twiml, _ = await database_sync_to_async(ring)(Client(), world_a, 900 + n)
        if connected(twiml):
            break
        assert busy(twiml)
        await asyncio.sleep(0.25)
    assert connected(twiml)
