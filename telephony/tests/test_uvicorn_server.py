"""The web process on uvicorn (`manage.py serve` with WEB_SERVER=uvicorn), as deployed: a forged
stream refused, and a caller's hang-up ending the call quietly. A whole call
(test_end_to_end.test_a_whole_call) and SIGTERM mid-call (test_durability) run on both
servers."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from channels.db import database_sync_to_async

from telephony.tests.test_durability import _call_in_progress, _output, bench_agent, serve
from telephony.tests.test_end_to_end import caller_for

pytestmark = pytest.mark.django_db(transaction=True)

UVICORN = {"WEB_SERVER": "uvicorn"}


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_a_forged_stream_is_refused_on_either_server(world_a, twilio_rest, server):
    with serve(twilio_rest, WEB_SERVER=server) as (process, port):
        caller = caller_for(world_a, f"http://127.0.0.1:{port}")
        stream_url, _ = await caller._voice_webhook()
        path = stream_url.split("://", 1)[1].split("/", 1)[1]
        forged = {"X-Twilio-Signature": "Zm9yZ2Vk"}
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/{path}", additional_headers=forged
            ):
                pass
        assert refused.value.response.status_code == 403
        assert process.poll() is None  # the server goes on


async def test_a_caller_hanging_up_on_uvicorn_ends_the_call_quietly(world_a, twilio_rest):
    """As found: uvicorn, unlike Daphne, raises on a send to a socket the caller closed; the
    stream's own close after the caller's stop then logged "media stream failed" for every
    call that ended so. Now the call ends as the caller's, with nothing in the log."""
    await database_sync_to_async(bench_agent)(world_a)
    with serve(twilio_rest, LOG_LEVEL="info", **UVICORN) as (process, port):
        caller = caller_for(world_a, f"http://127.0.0.1:{port}")
        talking = asyncio.create_task(caller.run([]))
        call = await _call_in_progress(caller, beats=1)
        await talking  # no lines: it hangs up (stop, then close) once greeted
        for _ in range(50):
            await call.arefresh_from_db()
            if call.status == "completed":
                break
            await asyncio.sleep(0.1)
        output = _output(process)
    assert call.status == "completed" and call.outcome == "caller_hung_up", output
    assert "Traceback" not in output and "media stream failed" not in output, output
