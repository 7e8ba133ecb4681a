"""Whole calls over a real WebSocket: one Daphne process serving the project, the offline
providers (whisper tiny.en, the scripted brain, piper), and a caller that behaves as Twilio
does (telephony.simulator), with a local stand-in for Twilio's REST API to receive the hang-up."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from calls.models import Call, CallEvent, Turn
from telephony.simulator import SimulatedCaller, speech, transcribe_replies
from telephony.tests.fake_twilio import FakeTwilioRest

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(twilio_rest: str) -> dict[str, str]:
    """The environment of a server process sharing this test run's database and Redis."""
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceapp.test_settings",
        "TEST_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TWILIO_API_BASE_URL": twilio_rest,
        "PRELOAD_SPEECH_MODELS": "true",
        "LOG_LEVEL": "warning",
        "ALLOWED_HOSTS": "127.0.0.1",
    }


@contextmanager
def start_server(env: dict[str, str], *, models: bool = True):
    """The web process as production starts it (`manage.py serve`) with `env`; yields the
    process and its URL once it answers (and, with `models`, once its speech models have
    loaded). Stopped (or killed) on the way out."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                if process.poll() is None:
                    process.kill()
                output = process.stdout.read().decode(errors="replace")[-3000:]
                raise RuntimeError("the server did not start:\n" + output)
            time.sleep(0.2)
        if models:
            time.sleep(4)  # the speech models load in the background (~3 s)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def run_daphne(env: dict[str, str]):
    """The URL of a web process serving the project with `env` (see start_server)."""
    with start_server(env) as (_, url):
        yield url


@pytest.fixture
def daphne(transactional_db, twilio_rest, request):
    """The web process's URL: Daphne, or the server a test names with indirect
    parametrization (WEB_SERVER)."""
    server = getattr(request, "param", "daphne")
    with start_server({**server_env(twilio_rest), "WEB_SERVER": server}) as (_, url):
        if httpx.get(url + "/healthz").headers["server"] != server:
            raise AssertionError(f"not served by {server}")
        yield url


def offline_agent(world, **fields):
    agent = world.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "local_whisper",
        "scripted",
        "piper",
    )
    agent.tts_fallback = "espeak"
    agent.tools = ["lookup_info", "current_time", "end_call"]
    agent.knowledge = "hours: We are open from nine to five every day."
    agent.greeting = "Hello, thanks for calling. How can I help?"
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save()


def caller_for(world, url) -> SimulatedCaller:
    return SimulatedCaller(
        server=url,
        public_base_url=settings.PUBLIC_BASE_URL,
        auth_token="token-a",
        account_sid=world.account.account_sid,
        to_number=world.number.number,
    )


@pytest.mark.parametrize("daphne", ["daphne", "uvicorn"], indirect=True)
async def test_a_whole_call(world_a, daphne, twilio_rest):
    await database_sync_to_async(offline_agent)(world_a)
    FakeTwilioRest.requests.clear()
    caller = caller_for(world_a, daphne)
    report = await caller.run([speech("What are your hours?"), speech("Thank you, goodbye.")])
    await transcribe_replies(report)

    assert "thanks for calling" in report.greeting.text.lower()
    answer = report.replies[0].text.lower()
    assert ("nine" in answer or "9" in answer) and ("five" in answer or "5" in answer)
    call = await Call.objects.aget(twilio_call_sid=caller.call_sid)
    heard = [(t.speaker, t.text) async for t in Turn.objects.filter(call=call).order_by("index")]
    assert "thank you for calling" in report.replies[1].text.lower(), heard
    assert report.closed_by_server  # the agent hung up
    assert all(r.latency is not None and r.latency < 5 for r in report.replies)
    assert report.marks_echoed >= 3

    assert call.status == "completed" and call.outcome == "agent_ended"
    assert call.recording.name.endswith(".wav")
    turns = [t async for t in Turn.objects.filter(call=call).order_by("index")]
    assert [t.speaker for t in turns] == ["agent", "caller", "agent", "caller", "agent"]
    assert "hours" in turns[1].text.lower()
    assert turns[2].text == "We are open from nine to five every day."
    assert turns[4].text == "Thank you for calling. Goodbye!"
    for answer in (turns[2], turns[4]):
        assert answer.latency_ms is not None and answer.latency_ms > 0
        assert set(answer.timings) >= {
            "endpoint",
            "stt_final",
            "llm_first_token",
            "tts_first_audio",
            "first_frame_sent",
        }
    tools = [e.data["name"] async for e in CallEvent.objects.filter(call=call, kind="tool_call")]
    assert tools == ["lookup_info", "end_call"]
    # Hanging up is a REST request to Twilio, never a stream message: an rq job does it.
    worker = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "manage.py", "rqworker", "telephony", "--burst"],
        cwd=ROOT,
        env=server_env(twilio_rest),
        capture_output=True,
        timeout=60,
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    path, body = FakeTwilioRest.requests[-1]
    assert (
        path == f"/2010-04-01/Accounts/{world_a.account.account_sid}/Calls/{caller.call_sid}.json"
    )
    assert body == {"Status": ["completed"]}


async def test_barge_in_over_the_wire(world_a, daphne):
    long = (
        "Hello, thanks for calling. Today we have a long list of specials that I would love to "
        "tell you all about, starting with our seasonal drinks and pastries. "
        "We also have a loyalty programme with many benefits."
    )
    await database_sync_to_async(offline_agent)(world_a, greeting=long)
    caller = caller_for(world_a, daphne)
    report = await caller.run([speech("What are your hours?")], barge_in_after=1.5)
    assert report.clears >= 1
    call = await Call.objects.aget(twilio_call_sid=caller.call_sid)
    greeting = await Turn.objects.aget(call=call, index=0)
    assert greeting.interrupted
    assert greeting.text and long.startswith(greeting.text) and len(greeting.text) < len(long) / 2
    barge = await CallEvent.objects.filter(call=call, kind="barge_in").afirst()
    assert barge is not None and barge.data["heard"] == greeting.text
    answer = await Turn.objects.filter(call=call, speaker="agent", index__gt=0).afirst()
    assert answer is not None and "nine" in answer.text


def test_simulate_call_command_plays_a_wav_file(world_a, daphne, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from calls.audio import convert_audio, pcm16_to_wav
    from calls.providers.base import MULAW_8K, PCM16_16K

    offline_agent(world_a)
    wav = tmp_path / "caller.wav"
    wav.write_bytes(
        pcm16_to_wav(convert_audio(speech("What are your hours?"), MULAW_8K, PCM16_16K), 16000)
    )
    out = StringIO()
    call_command(
        "simulate_call",
        "--url",
        daphne,
        "--to",
        world_a.number.number,
        "--wav",
        str(wav),
        stdout=out,
    )
    printed = out.getvalue()
    assert f"caller: {wav}" in printed
    assert "agent [" in printed and " ms]:" in printed
    assert "server turn 2:" in printed and "first_frame_sent" in printed
