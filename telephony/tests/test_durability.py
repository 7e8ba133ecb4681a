"""A real server (`manage.py serve`, as deployed) dying or stopping mid-call, and refusing to
hold half-sent requests: every call still reaches a final status, with its reason."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from django.conf import settings
from uvicorn.protocols.utils import ClientDisconnected

from calls.engine.session import TransportClosed
from calls.models import Call, CallEvent
from calls.reaper import reap_calls
from telephony.media_stream import TwilioMediaStream
from telephony.tests.test_end_to_end import caller_for, server_env, start_server

pytestmark = pytest.mark.django_db(transaction=True)

# A greeting of ~9 s of tone (bench_tts: 60 ms a character): the call is mid-greeting when the
# server goes away.
GREETING = "Hello and welcome. " * 8


@contextmanager
def serve(twilio_rest: str, **env):
    extra = {
        "PRELOAD_SPEECH_MODELS": "false",
        "PROVIDER_PLUGINS": "bench.fake_providers",
        "CALL_HEARTBEAT_SECONDS": "1",
        "CALL_HEARTBEAT_STALE_SECONDS": "2",
        "HTTP_IDLE_TIMEOUT_SECONDS": "2",
        **env,
    }
    with start_server({**server_env(twilio_rest), **extra}, models=False) as (process, url):
        yield process, int(url.rsplit(":", 1)[1])


def _output(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.kill()
    return process.stdout.read().decode(errors="replace")[-3000:]


def bench_agent(world) -> None:
    agent = world.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "bench_stt",
        "bench_llm",
        "bench_tts",
    )
    agent.greeting = GREETING
    agent.save()


async def _call_in_progress(caller, beats: int = 2) -> Call:
    """The call once its server has beaten for it `beats` times after answering."""
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        call = await Call.objects.filter(twilio_call_sid=caller.call_sid).afirst()
        if call is not None and call.status == "in-progress" and call.heartbeat_at:
            seen.add(call.heartbeat_at)
            if len(seen) > beats:
                return call
        await asyncio.sleep(0.1)
    raise AssertionError(f"the call never beat {beats} times (seen {len(seen)})")


async def _events(call: Call) -> list[tuple[str, dict]]:
    return [(e.kind, e.data) async for e in CallEvent.objects.filter(call=call).order_by("pk")]


async def test_a_server_killed_mid_call_is_finalized_by_the_reaper(world_a, twilio_rest):
    """As found: after kill -9 the call stayed "in progress" for good. Now its heartbeat stops
    and the reaper finalizes it, saying why."""
    await database_sync_to_async(bench_agent)(world_a)
    with serve(twilio_rest) as (process, port):
        caller = caller_for(world_a, f"http://127.0.0.1:{port}")
        talking = asyncio.create_task(caller.run([]))
        try:
            call = await _call_in_progress(caller)
            # While its process beats, the reaper leaves it alone.
            assert await database_sync_to_async(reap_calls)() == {}
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
        finally:
            await asyncio.gather(talking, return_exceptions=True)

    await call.arefresh_from_db()
    assert call.status == "in-progress"  # nobody finished it
    later = call.heartbeat_at + timedelta(seconds=settings.CALL_HEARTBEAT_STALE_SECONDS + 1)
    assert await database_sync_to_async(reap_calls)(later) == {"server_lost": 1}
    await call.arefresh_from_db()
    assert call.status == "completed" and call.outcome == "server_lost"
    ended = [data for kind, data in await _events(call) if kind == "ended"]
    assert len(ended) == 1 and ended[0]["reaped"] and "stopped beating" in ended[0]["reason"]


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_sigterm_mid_call_finishes_the_call_before_exiting(world_a, twilio_rest, server):
    """As found: SIGTERM left the call "in progress" for good. Now the server, either of them,
    closes it, with its records, an "ended" event and a final status, before it exits 0."""
    await database_sync_to_async(bench_agent)(world_a)
    with serve(twilio_rest, WEB_SERVER=server) as (process, port):
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


def _dropped_after(port: int, partial: bytes, limit: float = 20.0) -> float | None:
    """Send `partial` and wait for the server to close the connection: seconds it took, or
    None if it was still open after `limit`."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        started = time.monotonic()
        sock.sendall(partial)
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            return None
        except ConnectionResetError:
            pass
        return time.monotonic() - started


def test_half_sent_requests_are_dropped(transactional_db, twilio_rest):
    """As found: half-sent HTTP requests were held open (Twisted's default idle timeout is a
    minute and Daphne has no flag for it). `serve` sets it from HTTP_IDLE_TIMEOUT_SECONDS."""
    with serve(twilio_rest, HTTP_IDLE_TIMEOUT_SECONDS="2") as (_, port):
        headers_only = b"POST /telephony/twilio/voice/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        part_of_a_body = (
            b"POST /telephony/twilio/voice/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n"
            b"CallSid=CA"
        )
        for partial in (headers_only, part_of_a_body):
            took = _dropped_after(port, partial)
            assert took is not None, f"still open after 20 s: {partial!r}"
            assert took >= 1.0  # by the idle timeout, not refused outright
        # A whole request on a fresh connection is still served.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(
    "refusal",
    [Disconnected("Attempt to send on a closed protocol"), ClientDisconnected()],
    ids=["daphne", "uvicorn"],
)
async def test_the_media_stream_reports_a_closed_socket_as_transport_closed(refusal):
    async def send(text: str) -> None:
        raise refusal

    async def close(code: int) -> None:
        pass

    stream = TwilioMediaStream(send, close, {"AC" + "1" * 32})
    with pytest.raises(TransportClosed):
        await stream.send_audio(b"\xff" * 160)
    with pytest.raises(TransportClosed):
        await stream.send_clear()
