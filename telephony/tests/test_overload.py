"""Nothing lost under overload: 200 simulated calls at once against ONE server process
(`manage.py serve` on PostgreSQL, the benchmark's fixed-delay providers, the real VAD), more
than one core can carry on this machine. Every call must still end with a final status and all
its records: the greeting, each caller line heard (a caller turn and the agent's answer) or
reported unheard, the started and ended events.

Costly: about a minute and both cores (the server and the 200 callers in this process). Marked
`heavy`; `pytest -m "not heavy"` leaves it out.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from bench.fake_providers import STT_TEXT
from calls.models import Call, CallEvent, CallStatus, Turn
from calls.reaper import SERVER_LOST, STREAM_NEVER_OPENED, reap_calls
from telephony.simulator import CallRefused, SimulatedCaller, speech
from telephony.tests.test_end_to_end import ROOT, free_port, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.heavy]

CALLS = 200
RAMP_SECONDS = 8.0  # the calls arrive over this long; each lasts longer, so all 200 overlap
LINES = 1  # the caller says one line after the greeting, hears the answer, hangs up
GREETING = "Hi."
HEARD = STT_TEXT  # what bench_stt hears in every utterance
CALLER_PATIENCE = 30.0  # a caller still on the line after this hangs up (and counts as failed)
CLOSE_WITHIN = 30.0  # after the last caller hung up, every call must be closed by then


@contextmanager
def serve(env: dict[str, str], log: Path):
    """One web process as production starts it (`manage.py serve`), its output in `log` (a
    pipe nobody reads would fill up under load and stall the server); yields its URL."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start:\n" + log.read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def bench_agent(world) -> None:
    agent = world.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "bench_stt",
        "bench_llm",
        "bench_tts",
    )
    agent.greeting = GREETING
    agent.tools = []
    agent.silence_reprompt_seconds = 300
    agent.silence_hangup_seconds = 600
    agent.max_call_seconds = 3600
    agent.save()


def call_records(call_sids: list[str]) -> dict[str, dict]:
    """The final state and records of each of these calls the server has, by call sid."""
    records = {}
    for call in Call.objects.filter(twilio_call_sid__in=call_sids):
        turns = Turn.objects.filter(call=call).order_by("index")
        records[call.twilio_call_sid] = {
            "status": call.status,
            "outcome": call.outcome,
            "turns": list(turns.values_list("speaker", "text")),
            "events": list(CallEvent.objects.filter(call=call).values_list("kind", flat=True)),
        }
    return records


def problems(record: dict, report) -> list[str]:
    """What is missing from one call's records, given what its caller said and heard."""
    found = []
    if record["status"] != CallStatus.COMPLETED or record["outcome"] in LOSSES:
        found.append(f"{record['status']}/{record['outcome']}")
    if record["events"].count("started") != 1 or record["events"].count("ended") != 1:
        found.append(f"events {sorted(set(record['events']))}")
    turns = record["turns"]
    if not turns or turns[0] != ("agent", GREETING):
        found.append(f"no greeting turn: {turns[:1]}")
    said = [text for speaker, text in turns if speaker == "caller"]
    # An answer cut short at once by the caller's next words is kept, its heard text empty.
    answers = [text for speaker, text in turns[1:] if speaker == "agent"]
    unheard = record["events"].count("unheard")
    replies = report.replies if report is not None else []
    lines_said = len(replies)
    # Words said before the answer to the earlier ones was heard join them in one turn.
    heard = sum(text.count(HEARD) for text in said)
    if heard + unheard < lines_said or any(text.replace(HEARD, "").strip() for text in said):
        found.append(f"caller said {lines_said} line(s); heard: {said}, {unheard} unheard")
    answered = sum(1 for reply in replies if reply.first_frame_at is not None)
    if report is not None and report.greeting.first_frame_at is None:
        answered -= 1  # the greeting came only after the caller's line: counted as its reply
    if len(answers) < answered:
        found.append(f"the caller heard {answered} answer(s), the records have {len(answers)}")
    if found:
        found.append(f"turns {turns}, events {record['events']}")
    return found


LOSSES = ("", "records_lost", "server_lost", "error")


async def test_200_calls_on_one_process_lose_nothing(world_a, twilio_rest, tmp_path):
    await database_sync_to_async(bench_agent)(world_a)
    line = speech("I would like a large latte please")
    env = {
        **server_env(twilio_rest),
        "PROVIDER_PLUGINS": "bench.fake_providers",
        "PRELOAD_SPEECH_MODELS": "false",
        "BENCH_STT_DELAY_MS": "100",
        "BENCH_LLM_DELAY_MS": "150",
        "BENCH_TTS_DELAY_MS": "80",
    }
    log = tmp_path / "server.log"
    reports: dict[str, object] = {}
    refused: list[str] = []  # the webhook's polite "cannot take your call" (a pool timeout)
    failed: list[str] = []  # anything else (a handshake timed out, say)

    async def one(url: str, i: int) -> str:
        await asyncio.sleep(i * RAMP_SECONDS / CALLS)
        caller = SimulatedCaller(
            server=url,
            public_base_url=settings.PUBLIC_BASE_URL,
            auth_token="token-a",
            account_sid=world_a.account.account_sid,
            to_number=world_a.number.number,
            reply_timeout=15,
        )
        try:
            async with asyncio.timeout(CALLER_PATIENCE):
                reports[caller.call_sid] = await caller.run([line] * LINES)
        except CallRefused as error:
            (refused if "<Say>" in str(error) else failed).append(str(error)[:200])
        except Exception as error:
            failed.append(f"{type(error).__name__}: {error}"[:200])
        return caller.call_sid

    with serve(env, log) as url:
        sids = await asyncio.gather(*(one(url, i) for i in range(CALLS)))
        deadline = time.monotonic() + CLOSE_WITHIN
        while True:
            records = await database_sync_to_async(call_records)(sids)
            still_open = [
                sid
                for sid, record in records.items()
                if not record["outcome"] and "started" in record["events"]
            ]
            if not still_open or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)

    errors = [ln[:300] for ln in log.read_text(errors="replace").splitlines() if "ERROR" in ln]
    # Not every caller is served by a process this far over its capacity: the voice webhook
    # may answer "we cannot take your call" (its database pool timed out), a handshake may
    # time out, a caller may give up waiting. Each such call must still end (below), and a
    # good share (a quarter at least) must reach a session, or the test would prove nothing.
    served = [sid for sid, record in records.items() if "started" in record["events"]]
    assert len(served) >= CALLS // 4, (
        f"{len(served)} served, {len(refused)} refused, {failed[:3]}; {errors[-3:]}"
    )
    assert set(reports) <= set(records), "a served call the server has no record of"
    # Every call a session held ended by itself: its final status and every record.
    lines = log.read_text(errors="replace").splitlines()
    about = [ln[:200] for ln in lines if any(sid in ln for sid in still_open)]
    assert not still_open, (
        f"{len(still_open)} of {len(records)} calls never closed, e.g. "
        f"{[records[sid] for sid in still_open[:3]]}; the server's log of them: {about[:10]}"
    )
    incomplete = {
        sid: found
        for sid, record in records.items()
        if "started" in record["events"] and (found := problems(record, reports.get(sid)))
    }
    assert not incomplete, f"{len(incomplete)} calls with records missing, e.g. " + str(
        list(incomplete.items())[:5]
    )
    # A call whose stream never opened (or whose session never started) is the reaper's, once
    # STREAM_OPEN_LIMIT_SECONDS have passed: the same rules, the clock moved on.
    never_opened = [sid for sid, record in records.items() if "started" not in record["events"]]
    later = timezone.now() + timedelta(seconds=settings.STREAM_OPEN_LIMIT_SECONDS + 1)
    await database_sync_to_async(reap_calls)(later)
    records = await database_sync_to_async(call_records)(sids)
    for sid in never_opened:
        assert records[sid]["outcome"] in (STREAM_NEVER_OPENED, SERVER_LOST), records[sid]
        assert records[sid]["events"].count("ended") == 1, records[sid]
