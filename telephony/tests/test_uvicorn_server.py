"""The web process on uvicorn (`manage.py serve` with WEB_SERVER=uvicorn), as deployed: a whole
call over the wire, a forged stream refused, and SIGTERM mid-call finishing the call before the
process exits, as Daphne does (telephony/tests/test_durability.py)."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async

from calls.models import Call, Turn
from telephony.simulator import speech, transcribe_replies
from telephony.tests.test_durability import _call_in_progress, _events, _output, bench_agent, serve
from telephony.tests.test_end_to_end import caller_for, offline_agent, server_env, start_server

pytestmark = pytest.mark.django_db(transaction=True)

UVICORN = {"WEB_SERVER": "uvicorn"}


async def test_a_whole_call_on_uvicorn(world_a, twilio_rest):
    await database_sync_to_async(offline_agent)(world_a)
    with start_server({**server_env(twilio_rest), **UVICORN}) as (process, url):
        async with httpx.AsyncClient() as client:
            assert (await client.get(url + "/healthz")).headers["server"] == "uvicorn"
        caller = caller_for(world_a, url)
        report = await caller.run([speech("What are your hours?"), speech("Thank you, goodbye.")])
    await transcribe_replies(report)

    assert "thanks for calling" in report.greeting.text.lower()
    answer = report.replies[0].text.lower()
    assert ("nine" in answer or "9" in answer) and ("five" in answer or "5" in answer)
    assert report.closed_by_server and report.marks_echoed >= 3
    call = await Call.objects.aget(twilio_call_sid=caller.call_sid)
    assert call.status == "completed" and call.outcome == "agent_ended"
    assert call.recording.name.endswith(".wav")
    speakers = [t.speaker async for t in Turn.objects.filter(call=call).order_by("index")]
    assert speakers == ["agent", "caller", "agent", "caller", "agent"]


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


async def test_sigterm_mid_call_on_uvicorn_finishes_the_call_before_exiting(world_a, twilio_rest):
    await database_sync_to_async(bench_agent)(world_a)
    with serve(twilio_rest, **UVICORN) as (process, port):
        caller = caller_for(world_a, f"http://127.0.0.1:{port}")
        talking = asyncio.create_task(caller.run([]))
        try:
            call = await _call_in_progress(caller)
            process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(process.wait, 30)
        finally:
            await asyncio.gather(talking, return_exceptions=True)
        output = _output(process)
    assert code == 0, output
    assert "Traceback" not in output, output

    await call.arefresh_from_db()
    assert call.status == "completed" and call.outcome == "server_shutdown"
    events = await _events(call)
    assert events[0][0] == "started" and events[-1] == ("ended", {"outcome": "server_shutdown"})
    greeting = await call.turns.aget(index=0)
    assert greeting.speaker == "agent" and greeting.interrupted
    assert call.recording.name.endswith(".wav")


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
