"""Admission control on a real server (`manage.py serve`): the line a call holds stays taken
while its server beats, and frees itself when that server is killed (kill -9 releases
nothing); the caller over the cap meanwhile hears that all lines are busy."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from calls.models import Call, CallStatus
from telephony.simulator import CallRefused
from telephony.tests.fake_twilio import FakeTwilioRest
from telephony.tests.test_admission import busy, connected, ring
from telephony.tests.test_durability import _call_in_progress, bench_agent, serve
from telephony.tests.test_end_to_end import ROOT, caller_for, server_env
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


async def test_a_full_server_hands_the_next_caller_the_busy_message_through_twilio(
    world_a, twilio_rest
):
    """One call fills the server (CALLS_PER_PROCESS_MAX=1): the next caller's stream is
    refused, the Call recorded, and a worker asks Twilio to say the busy message instead."""
    await database_sync_to_async(bench_agent)(world_a)
    FakeTwilioRest.requests.clear()
    with serve(twilio_rest, CALLS_PER_PROCESS_MAX="1") as (process, port):
        url = f"http://127.0.0.1:{port}"
        first = caller_for(world_a, url)
        talking = asyncio.create_task(first.run([]))
        over = caller_for(world_a, url)
        refused = None
        try:
            await _call_in_progress(first, beats=1)
            refused = asyncio.create_task(over.run([]))
            call = None
            for _ in range(100):
                call = await Call.objects.filter(twilio_call_sid=over.call_sid).afirst()
                if call is not None and call.outcome:
                    break
                await asyncio.sleep(0.1)
            assert call.status == CallStatus.COMPLETED and call.outcome == "lines_busy"
            assert not refused.done()  # its socket waits for Twilio to take the call over
            worker = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "manage.py", "rqworker", "telephony", "--burst"],
                cwd=ROOT,
                env=server_env(twilio_rest),
                capture_output=True,
                timeout=60,
            )
            assert worker.returncode == 0, worker.stderr.decode()[-2000:]
        finally:
            tasks = [t for t in (talking, refused) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    first_call = await Call.objects.aget(twilio_call_sid=first.call_sid)
    assert first_call.outcome != "lines_busy"
    redirects = [
        form["Twiml"][0]
        for path, form in FakeTwilioRest.requests
        if path.endswith(f"/Calls/{over.call_sid}.json") and "Twiml" in form
    ]
    assert len(redirects) == 1 and LINES_BUSY_MESSAGE in redirects[0]
