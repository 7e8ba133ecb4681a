"""Benchmark: N concurrent simulated calls against the product, and side by side with Pipecat.

Run from the project root:

    .venv/bin/python -m bench.call_latency [--calls 1,10,50,100,200] [--turns 2] [--quick]
    .venv/bin/python -m bench.call_latency --processes 2       # two Daphne processes, HAProxy
    .venv/bin/python -m bench.call_latency --pipecat ../shared/anchors/pipecat  # side by side

It creates a fresh PostgreSQL database `voiceapp_bench` (dropped first if it exists), migrates
and seeds it (one tenant, one Twilio account, one number, one agent on the fixed-delay
providers of bench.fake_providers), and for each N starts a fresh server, warms it with one
call, and runs N SimulatedCallers (telephony.simulator) at once from this process: each call
waits for the greeting, then says the same line `--turns` times, each after the agent's
previous reply.

The server: by default ONE Daphne process (`manage.py serve`; `--server uvicorn` runs it on
uvicorn with uvloop instead, WEB_SERVER=uvicorn) pinned to CPU 0, this client
pinned to CPU 1 (`--no-pin` leaves both free). With `--processes K`, the scale-out set-up
(voiceapp.scaleout: K Daphne processes, process i pinned to CPU i, behind HAProxy, an rq
worker and the cron, on Redis `--redis-url`): the callers go through the balancer, which
spreads them; the client is not pinned then (the servers have the cores).

With `--pipecat DIR` (the reference server, ../shared/anchors/pipecat, its environment built by
its setup-venv.sh into `--pipecat-venv`), each N is also run against it (uvicorn, one worker,
pinned to CPU 0) with the same client, the same caller audio (the anchor's own 1.5 s
formant-synthesised utterance, written by its smoke_client.py --dump-utterance; without
--pipecat the line is spoken by piper) and the same provider delays (STT 100, LLM first token
200, TTS first audio 100 ms, 100 tokens/s after the first, 60 ms of audio per word, the same
11-word answer: bench.fake_providers' defaults), and a side-by-side table with the ratios is
printed: turns answered, latency p50/p95 minus the providers' fixed delays, greeting p50/p95,
CPU and memory per call, late frames, and (the product's database) calls left open.

Both servers end a turn alike: on the VAD's stop (and, in the product, the text), the semantic
turn model off (SMART_TURN=false; the anchor's TURN_STOP=vad), or with it on both
(`--smart-turn`). The product's phrase cache is off (PHRASE_CACHE_MAX_BYTES=0): the fake answer
never changes, so it would always play from the cache. `--server-env KEY=VALUE` overrides.

Figures for the product, per N:
- server-added latency: from the server's own per-turn timings (calls_turn.timings, ms after
  the caller's end of speech): first_frame_sent - endpoint - (STT + LLM + TTS delays), i.e.
  what the server adds between its VAD deciding the caller stopped and the first agent frame
  being handed to the socket, beyond what the (fake) providers take (their fixed delays and
  the first sentence's streaming: 6 tokens after the first at 100/s, 60 ms);
- client view: the caller's measured latency (first agent frame received after the caller's
  last frame sent) minus the VAD's decision delay (the stop hangover plus the line's trailing
  silence and window alignment, measured offline by feeding the same line to the same VAD)
  and minus the provider delays. It adds what the server-side view cannot see: inbound frames
  queued before the server reads them, and the outbound socket and client loop;
- client raw: the caller's measured latency itself; overhead (side by side): client raw minus
  the providers' fixed delays, end-of-speech detection included, for both servers alike;
- greeting: from the stream's handshake to the greeting's first audio frame;
- CPU: the server processes' CPU time (utime + stime from /proc) over the round's wall time,
  as % of one core, in total and per call (and over the window while all N calls were up);
  memory: their RSS growth from after the warm-up call to the round's peak, per call; the bench
  client's own CPU;
- late outbound frames (agent audio that reached the caller after the audio before it had
  finished playing) and dropped calls (refused, raised, timed out, a line left unanswered,
  or the stream closed by the server);
- calls left open: Calls of the round not in a final status 60 s after the callers hung up.

Servers are always stopped at the end. The bench database is left in place for inspection
(it is dropped and recreated at the start of the next run); `--drop-db` drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.servers import (
    TTS_MS_PER_WORD,
    Anchor,
    OneServer,
    ScaledProduct,
    Target,
    add_server_arguments,
    procs_cpu_seconds,
    procs_rss_mib,
    self_cpu_seconds,
    server_env_note,
    server_extra,
)
from voiceapp.scaleout import ROOT

DB_NAME = "voiceapp_bench"
PG = "postgresql://postgres@127.0.0.1:5432"
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token"
NUMBER = "+15005550006"
PUBLIC_BASE_URL = "https://bench.example.test"
LINE = "I would like a taro milk tea"  # spoken by piper when there is no --pipecat
GREETING = "Hello, thanks for calling."  # as the Pipecat anchor's

TARGET_P95_1 = 20.0  # ms, server-added p95 with 1 call
TARGET_P95_100 = 60.0  # ms, with 100 calls
TARGET_CPU_PER_CALL = 1.0  # % of one core


# ---------------------------------------------------------------- set-up (database, server)


def server_env(extra: dict[str, str], smart_turn: bool = False) -> dict[str, str]:
    """The environment of every Django process of the benchmark (migrate, seed, Daphne)."""
    from cryptography.fernet import Fernet

    from bench.fake_providers import DEFAULT_DELAYS_MS, DEFAULT_TOKENS_PER_SEC

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceapp.settings",
        PYTHONPATH=str(ROOT),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        SECURE_SSL_REDIRECT="false",  # the simulated Twilio speaks plain http to 127.0.0.1
        ALLOWED_HOSTS="127.0.0.1,localhost",
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=f"{PG}/{DB_NAME}".replace("postgresql://", "postgres://"),
        PROVIDER_PLUGINS="bench.fake_providers",
        PRELOAD_SPEECH_MODELS="false",
        LOG_LEVEL="warning",
        # The callers hang up themselves; should the server ever call Twilio, it stays local.
        TWILIO_API_BASE_URL="http://127.0.0.1:9",
        # The fake LLM says the same answer every time, which would always play from the
        # phrase cache; real answers vary. Off, so every sentence costs its TTS delay.
        PHRASE_CACHE_MAX_BYTES="0",
        # End of turn on the VAD and the text alone (as the Pipecat anchor's TURN_STOP=vad),
        # unless --smart-turn: the caller's audio need not sound like a finished sentence.
        SMART_TURN="true" if smart_turn else "false",
    )
    for role, default in DEFAULT_DELAYS_MS.items():
        name = f"BENCH_{role.upper()}_DELAY_MS"
        env[name] = os.environ.get(name, str(default))
    env["BENCH_LLM_TOKENS_PER_SEC"] = os.environ.get(
        "BENCH_LLM_TOKENS_PER_SEC", str(DEFAULT_TOKENS_PER_SEC)
    )
    env["BENCH_TTS_MS_PER_WORD"] = str(TTS_MS_PER_WORD)
    env.update(extra)
    return env


def recreate_database() -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def _django(env: dict[str, str], *args: str, timeout: float = 300) -> None:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def migrate_and_seed(env: dict[str, str]) -> None:
    _django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    _django(env, "-c", "import django; django.setup(); import bench.call_latency as b; b.seed()")


def seed() -> None:
    """Run inside Django (see migrate_and_seed): the tenant, account, agent and number."""
    from calls.models import Agent
    from telephony.models import PhoneNumber, TwilioAccount
    from voiceapp.models import Tenant

    tenant = Tenant.objects.create(name="Bench Coffee", slug="bench-coffee", time_zone="UTC")
    account = TwilioAccount.objects.create(
        tenant=tenant, name="Bench", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    agent = Agent.objects.create(
        tenant=tenant,
        name="Bench agent",
        greeting=GREETING,
        stt_provider="bench_stt",
        llm_provider="bench_llm",
        tts_provider="bench_tts",
        tools=[],
        silence_reprompt_seconds=300,
        silence_hangup_seconds=600,
        max_call_seconds=3600,
    )
    PhoneNumber.objects.create(tenant=tenant, account=account, number=NUMBER, agent=agent)


# ---------------------------------------------------------------- the caller's line


def vad_decision_delay_ms(line: bytes) -> float:
    """How long after the line's last frame the server's VAD decides speech ended, averaged
    over the 8 alignments of 20 ms frames to its 32 ms windows (the session's VAD settings)."""
    from calls.audio import ulaw_decode
    from calls.vad import SpeechEnd, VoiceActivityDetector
    from telephony.simulator import FRAME, SILENCE

    frames = [line[i : i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(line), FRAME)]
    delays = []
    for shift in range(8):
        vad = VoiceActivityDetector(sample_rate=8000, start_ms=200, stop_ms=240)
        for frame in [SILENCE] * (50 + shift) + frames:
            vad.feed(ulaw_decode(frame))
        for n in range(1, 200):
            if isinstance(vad.feed(ulaw_decode(SILENCE)), SpeechEnd):
                delays.append(n * 20.0)
                break
        vad.close()
    return sum(delays) / len(delays) if delays else math.nan


# ---------------------------------------------------------------- one round of N calls


@dataclass
class CallOutcome:
    call_sid: str
    report: object | None = None  # telephony.simulator.Report
    problem: str = ""
    started: float = 0.0
    ended: float = 0.0


@dataclass
class Round:
    n: int
    turns: int
    wall: float = 0.0
    outcomes: list[CallOutcome] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    rss_before: float = 0.0
    rss_peak: float = 0.0
    steady_cpu_pct: float | None = None  # Daphne, % of a core, while all N calls were up
    server_added: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    turns_missing: int = 0
    unclosed: int = 0  # calls whose end the server never wrote (records lost)
    client_raw: list[float] = field(default_factory=list)
    client_view: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)  # client raw - fixed provider delays
    label: str = "product"
    processes: int = 1  # server processes measured

    @property
    def greeting(self) -> list[float]:
        """ms from each stream's handshake to its greeting's first audio frame."""
        return [
            (o.report.greeting.first_frame_at - o.report.stream_opened_at) * 1000
            for o in self.outcomes
            if o.report is not None
            and o.report.greeting.first_frame_at is not None
            and o.report.stream_opened_at is not None
        ]

    @property
    def answered(self) -> int:
        return len(self.client_raw)

    @property
    def cpu_per_call(self) -> float:
        """% of a core per call: over the window while all N calls were up when there was
        one, else over the whole round."""
        if self.steady_cpu_pct is not None:
            return self.steady_cpu_pct / self.n
        return self.server_cpu / self.wall * 100 / self.n if self.wall else math.nan

    @property
    def dropped(self) -> list[CallOutcome]:
        return [o for o in self.outcomes if o.problem]

    @property
    def late_frames(self) -> int:
        return sum(o.report.late_frames for o in self.outcomes if o.report is not None)

    @property
    def frames_received(self) -> int:
        return sum(o.report.frames_received for o in self.outcomes if o.report is not None)


def _problem(report, turns: int) -> str:
    if report.greeting.first_frame_at is None:
        return "no greeting"
    missing = [k for k, r in enumerate(report.replies) if r.latency is None]
    if len(report.replies) < turns or missing:
        return f"{turns - len(report.replies) + len(missing)} line(s) without a reply"
    if report.closed_by_server:
        return f"stream closed by the server (code {report.close_code})"
    return ""


async def _abandon(task: asyncio.Task, caller) -> None:
    """Cancel a call that overran, with its sender and receiver tasks. SimulatedCaller.run's
    cleanup waits for its receiver, which only ends when the server closes the socket; a
    cancelled run() would otherwise hang until the server's silence timeout."""
    for other in asyncio.all_tasks():
        frame = getattr(other.get_coro(), "cr_frame", None)
        if other is task or (frame is not None and frame.f_locals.get("self") is caller):
            other.cancel()
    await asyncio.wait({task}, timeout=15)


async def run_round(
    n: int, turns: int, line: bytes, target: Target, ramp: float, call_timeout: float
) -> Round:
    from telephony.simulator import SimulatedCaller

    pids = target.pids
    result = Round(n, turns, label=target.label, processes=len(pids))
    active = 0
    samples: list[tuple[float, float, int]] = []  # (time, Daphne CPU, active calls)

    async def one(i: int, caller: SimulatedCaller) -> CallOutcome:
        nonlocal active
        outcome = CallOutcome(caller.call_sid)
        await asyncio.sleep(i * ramp / n if n > 1 else 0)
        outcome.started = time.monotonic()
        active += 1
        task = asyncio.create_task(caller.run([line] * turns))
        try:
            done, _ = await asyncio.wait({task}, timeout=call_timeout)
            if not done:
                await _abandon(task, caller)
                raise TimeoutError
            report = task.result()
            outcome.report = report
            outcome.problem = _problem(report, turns)
        except TimeoutError:
            outcome.problem = f"timed out after {call_timeout:.0f}s"
        except Exception as exc:  # any failure of a call is a dropped call, and reported
            text = " ".join(str(exc).split())
            if "<title>" in text:  # an HTML error page: its title says enough
                text = text.split("<title>", 1)[0] + text.split("<title>", 1)[1].split("<", 1)[0]
            outcome.problem = f"{type(exc).__name__}: {text}"[:160]
        finally:
            active -= 1
            outcome.ended = time.monotonic()
        return outcome

    async def sample(stop: asyncio.Event) -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), procs_cpu_seconds(pids), active))
            result.rss_peak = max(result.rss_peak, procs_rss_mib(pids))
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass

    callers = [
        SimulatedCaller(
            server=target.url,
            public_base_url=PUBLIC_BASE_URL,
            auth_token=AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            to_number=NUMBER,
        )
        for _ in range(n)
    ]
    result.rss_before = result.rss_peak = procs_rss_mib(pids)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(stop))
    cpu0, client0, t0 = procs_cpu_seconds(pids), self_cpu_seconds(), time.monotonic()
    result.outcomes = list(await asyncio.gather(*(one(i, c) for i, c in enumerate(callers))))
    result.wall = time.monotonic() - t0
    result.server_cpu = procs_cpu_seconds(pids) - cpu0
    result.client_cpu = self_cpu_seconds() - client0
    stop.set()
    await sampler
    result.rss_peak = max(result.rss_peak, procs_rss_mib(pids))
    full = [(t, cpu) for t, cpu, up in samples if up == n]
    if len(full) >= 4 and full[-1][0] - full[0][0] >= 1.0:
        result.steady_cpu_pct = (full[-1][1] - full[0][1]) / (full[-1][0] - full[0][0]) * 100
    return result


# ---------------------------------------------------------------- the server's records


FINAL_STATUSES = ["completed", "busy", "failed", "no-answer", "canceled"]  # calls.models


def wait_calls_left_open(call_sids: list[str], timeout: float = 60) -> int:
    """Wait until every Call of these calls is in a final status with its outcome written;
    returns how many are not (the calls left open). A call the voice webhook turned away before
    any Call was written (its database pool timed out) has no Call to leave open: it is counted
    among the dropped calls, not here."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        while True:
            existing, closed = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = ANY(%s) AND outcome <> '') "
                "FROM calls_call WHERE twilio_call_sid = ANY(%s)",
                (FINAL_STATUSES, call_sids),
            ).fetchone()
            if closed >= existing or time.monotonic() > deadline:
                return existing - closed
            time.sleep(0.5)


def server_timings(call_sids: list[str]) -> list[dict[str, int]]:
    """The timings of every agent turn that answered a caller's line on these calls."""
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT t.timings FROM calls_turn t JOIN calls_call c ON c.id = t.call_id "
            "WHERE c.twilio_call_sid = ANY(%s) AND t.speaker = 'agent' "
            "AND t.timings ? 'endpoint' ORDER BY c.id, t.index",
            (call_sids,),
        ).fetchall()
    return [row[0] for row in rows]


def analyse(
    result: Round, delays: dict[str, float], vad_delay_ms: float, records: bool = True
) -> None:
    from bench.fake_providers import first_sentence_seconds

    stt, llm, tts = (delays[r] * 1000 for r in ("stt", "llm", "tts"))
    streaming = first_sentence_seconds() * 1000
    providers = stt + llm + tts + streaming
    sids = [o.call_sid for o in result.outcomes if o.report is not None]
    for timings in server_timings(sids) if records else []:
        needed = ("endpoint", "stt_final", "llm_first_token", "tts_first_audio")
        if "first_frame_sent" not in timings or any(k not in timings for k in needed):
            result.turns_missing += 1
            continue
        end, sent = timings["endpoint"], timings["first_frame_sent"]
        result.server_added.append(sent - end - providers)
        for stage, value in (
            ("stt", timings["stt_final"] - end - stt),
            ("llm", timings["llm_first_token"] - timings["stt_final"] - llm),
            ("tts", timings["tts_first_audio"] - timings["llm_first_token"] - streaming - tts),
            ("send", sent - timings["tts_first_audio"]),
        ):
            result.stages.setdefault(stage, []).append(value)
    for outcome in result.outcomes:
        if outcome.report is None:
            continue
        for reply in outcome.report.replies:
            if reply.latency is not None:
                raw = reply.latency * 1000
                result.client_raw.append(raw)
                result.client_view.append(raw - vad_delay_ms - providers)
                result.overhead.append(raw - (stt + llm + tts))


# ---------------------------------------------------------------- the table


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _pcts(values: list[float]) -> str:
    if not values:
        return "-"
    return "/".join(f"{percentile(values, q):.0f}" for q in (50, 95, 99))


def _problems(r: Round) -> list[tuple[str, int]]:
    """Why calls were dropped, the commonest first."""
    problems: dict[str, int] = {}
    for o in r.dropped:
        problems[o.problem] = problems.get(o.problem, 0) + 1
    return sorted(problems.items(), key=lambda kv: -kv[1])


def _yes(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def render(
    rounds: list[Round],
    delays: dict[str, float],
    vad_delay_ms: float,
    codec: list[tuple[str, float]],
    env_note: str,
    servers: str = "one web process",
) -> str:
    header = [
        "N",
        "calls ok",
        "dropped",
        "replies",
        "server-added ms p50/95/99",
        "client view ms p50/95/99",
        "client raw ms p50/95/99",
        "late frames (per 1k)",
        "server CPU % core",
        "CPU %/call (all up)",
        "RSS MiB/call (start->peak)",
        "bench client CPU %",
        "wall s",
    ]
    rows = []
    for r in rounds:
        frames = r.frames_received
        late = f"{r.late_frames} ({r.late_frames / frames * 1000:.1f})" if frames else "-"
        cpu_pct = r.server_cpu / r.wall * 100 if r.wall else math.nan
        steady = f"{r.steady_cpu_pct / r.n:.2f}" if r.steady_cpu_pct is not None else "-"
        growth = (r.rss_peak - r.rss_before) / r.n
        rows.append(
            [
                str(r.n),
                str(r.n - len(r.dropped)),
                str(len(r.dropped)),
                f"{len(r.server_added)}" + (f"+{r.turns_missing}?" if r.turns_missing else ""),
                _pcts(r.server_added),
                _pcts(r.client_view),
                _pcts(r.client_raw),
                late,
                f"{cpu_pct:.0f}",
                f"{cpu_pct / r.n:.2f} ({steady})",
                f"{growth:.2f} ({r.rss_before:.0f}->{r.rss_peak:.0f})",
                f"{r.client_cpu / r.wall * 100:.0f}" if r.wall else "-",
                f"{r.wall:.1f}",
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    total = sum(widths) + 2 * (len(widths) - 1)

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    out = [
        f"Call latency: N concurrent simulated calls against {servers} "
        f"(provider delays STT {delays['stt'] * 1000:.0f} + LLM {delays['llm'] * 1000:.0f} "
        f"+ TTS {delays['tts'] * 1000:.0f} ms; {env_note})",
        "=" * total,
        line(header),
        "-" * total,
        *(line(row) for row in rows),
        "-" * total,
        "server-added: first_frame_sent - endpoint - provider delays (the fixed ones and the "
        "first sentence's streaming, 60 ms), from the server's turn timings (after its VAD "
        "decided speech ended).",
        f"client view: client raw - VAD decision delay ({vad_delay_ms:.0f} ms: 240 ms stop "
        "hangover + the line's trailing silence + window alignment, measured offline; "
        "+-16 ms per reply) - provider delays.",
        "CPU %/call: the server processes' CPU over the whole round / wall / N (in brackets: "
        "over the window while all N calls were up). RSS: growth from after a warm-up call to "
        "the round's peak / N.",
    ]
    stage_rows = []
    for r in rounds:
        if r.stages:
            parts = [
                f"{stage} {percentile(v, 50):.0f}/{percentile(v, 95):.0f}"
                for stage, v in r.stages.items()
            ]
            stage_rows.append(f"  N={r.n:<4} " + ", ".join(parts))
    if stage_rows:
        out += [
            "server-added by stage, ms p50/p95 (stt: endpoint->stt_final, llm: ->first token, "
            "tts: ->first audio, each minus its provider delay (tts: and the first sentence's "
            "streaming); send: first audio->first frame "
            "sent):",
            *stage_rows,
        ]
    out += ["-" * total, "targets:"]
    by_n = {r.n: r for r in rounds}

    def p95(n: int) -> float | None:
        r = by_n.get(n)
        return percentile(r.server_added, 95) if r and r.server_added else None

    p95_1, p95_100 = p95(1), p95(100)
    out.append(
        f"  p95 server-added < {TARGET_P95_1:.0f} ms at 1 call: "
        + (_yes(None) if p95_1 is None else f"{_yes(p95_1 < TARGET_P95_1)} ({p95_1:.0f} ms)")
    )
    out.append(
        f"  p95 server-added < {TARGET_P95_100:.0f} ms at 100 calls: "
        + (
            _yes(None)
            if p95_100 is None
            else f"{_yes(p95_100 < TARGET_P95_100)} ({p95_100:.0f} ms)"
        )
    )
    r200 = by_n.get(200)
    out.append(
        "  200 calls, none dropped: "
        + (_yes(None) if r200 is None else f"{_yes(not r200.dropped)} ({len(r200.dropped)})")
    )
    for r in rounds:
        cpu = r.server_cpu / r.wall * 100 / r.n if r.wall else math.nan
        saturated = r.server_cpu / r.wall >= 0.8 * r.processes if r.wall else False
        note = f"{cpu:.2f}%"
        if r.dropped or saturated:
            # A saturated server's CPU / N is its ceiling shared out, not what a call costs.
            note += f", the server at {r.server_cpu / r.wall * 100:.0f}% of a core"
            note += f", {len(r.dropped)} dropped" if r.dropped else ""
        out.append(
            f"  N={r.n}: < {TARGET_CPU_PER_CALL:g}% of a core per call: "
            f"{_yes(cpu < TARGET_CPU_PER_CALL and not r.dropped and not saturated)} ({note})"
        )
    for r in rounds:
        for problem, count in _problems(r)[:5]:
            out.append(f"  dropped at N={r.n}: {count} x {problem}")
        if r.unclosed:
            out.append(
                f"  N={r.n}: {r.unclosed} call(s) never closed in the server's records "
                "(ended, outcome written) within 60 s of the round"
            )
    if codec:
        width = max(len(label) for label, _ in codec)
        out += [
            "=" * total,
            "Codec and VAD (calls.audio, calls.vad; bench.codec): x realtime = audio seconds "
            "per CPU second",
            "-" * total,
            *(f"{label:<{width}}  {value:>12,.0f}" for label, value in codec),
        ]
    out.append("=" * total)
    return "\n".join(out)


def _ratio(ours: float, theirs: float) -> str:
    if math.isnan(ours) or math.isnan(theirs) or theirs <= 0:
        return "-"
    return f"{ours / theirs:.2f}"


def _p(values: list[float], q: float) -> float:
    return percentile(values, q) if values else math.nan


def _pair(values: list[float]) -> str:
    return "-" if not values else f"{_p(values, 50):,.0f} / {_p(values, 95):,.0f}"


def _late(r: Round) -> str:
    frames = r.frames_received
    return f"{r.late_frames / frames * 1000:.1f}" if frames else "-"


def render_side_by_side(
    ours: Run,
    theirs: Run,
    delays: dict[str, float],
    servers: str,
    pinned: bool,
    smart_turn: bool = False,
) -> str:
    """The product and Pipecat at each N, with product / Pipecat ratios (below 1: the product
    needs less), as a Markdown table for the README."""
    fixed = sum(delays.values()) * 1000
    header = (
        "| N | turns answered: product / Pipecat "
        "| overhead ms p50 / p95: product | Pipecat | ratio p50, p95 "
        "| greeting ms p50 / p95: product | Pipecat "
        "| CPU % of a core per call: product | Pipecat | ratio "
        "| MiB per call: product | Pipecat | ratio "
        "| late frames per 1k: product | Pipecat | calls left open (product) |"
    )
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    theirs_by_n = {r.n: r for r in theirs.rounds}
    for r in ours.rounds:
        a = theirs_by_n.get(r.n)
        turns = r.n * r.turns
        mib = (r.rss_peak - r.rss_before) / r.n
        if a is None:
            rows.append(
                f"| {r.n} | {r.answered}/{turns} / - | {_pair(r.overhead)} | - | - "
                f"| {_pair(r.greeting)} | - | {r.cpu_per_call:.2f} | - | - | {mib:.2f} | - | - "
                f"| {_late(r)} | - | {r.unclosed} |"
            )
            continue
        their_mib = (a.rss_peak - a.rss_before) / a.n
        ratio_latency = (
            f"{_ratio(_p(r.overhead, 50), _p(a.overhead, 50))}, "
            f"{_ratio(_p(r.overhead, 95), _p(a.overhead, 95))}"
        )
        rows.append(
            f"| {r.n} | {r.answered}/{turns} / {a.answered}/{a.n * a.turns} "
            f"| {_pair(r.overhead)} | {_pair(a.overhead)} | {ratio_latency} "
            f"| {_pair(r.greeting)} | {_pair(a.greeting)} "
            f"| {r.cpu_per_call:.2f} | {a.cpu_per_call:.2f} "
            f"| {_ratio(r.cpu_per_call, a.cpu_per_call)} "
            f"| {mib:.2f} | {their_mib:.2f} | {_ratio(mib, their_mib)} "
            f"| {_late(r)} | {_late(a)} | {r.unclosed} |"
        )
    pinning = (
        "each server pinned to one core, the client on the other"
        if pinned
        else "servers and client not pinned"
    )
    notes = [
        f"Side by side: the product ({servers}) and the Pipecat reference server (uvicorn, one "
        f"worker); {pinning}; the same client (telephony.simulator), caller audio (the Pipecat "
        "client's 1.5 s utterance) and provider delays (STT "
        f"{delays['stt'] * 1000:.0f}, LLM first token {delays['llm'] * 1000:.0f}, TTS first "
        f"audio {delays['tts'] * 1000:.0f} ms; 100 tokens/s; 60 ms of audio a word); end of "
        + ("turn: Smart Turn on both." if smart_turn else "turn: the VAD's stop on both.")
        + " The product's phrase cache is off (the fake answer never changes).",
        "",
        *rows,
        "",
        f"overhead: first agent audio after the caller's last frame, minus the {fixed:.0f} ms "
        "of fixed provider delays (end-of-speech detection and the first sentence's streaming "
        "included, for both). greeting: stream handshake to the greeting's first audio. CPU: "
        "over the window while all N calls were up (else the whole round) / N. MiB: RSS "
        "growth from after a warm-up call to the round's peak / N. calls left open: the "
        "product's Calls not final 60 s after the callers hung up (Pipecat keeps no records).",
    ]
    for run in (ours, theirs):
        if run.failure:
            notes.append(f"{run.label} STOPPED EARLY: {run.failure}")
    return "\n".join(notes)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,10,50,100,200", help="Comma list of N.")
    parser.add_argument("--turns", type=int, default=2, help="Lines each caller says.")
    parser.add_argument(
        "--min-replies",
        type=int,
        default=20,
        help="Give each caller more lines when N x turns is below this (so N=1 has a "
        "distribution, not two points).",
    )
    parser.add_argument("--quick", action="store_true", help="N=1,10 only, fewer replies.")
    parser.add_argument("--ramp", type=float, default=2.0, help="Seconds the N starts span.")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Web processes; above 1, behind HAProxy with an rq worker and the cron "
        "(voiceapp.scaleout), process i pinned to CPU i.",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        help="Redis for --processes above 1 (the channel layer, the queues).",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="Leave the server(s) and this client on any CPU (default: a single server on CPU "
        "0, the client on CPU 1).",
    )
    parser.add_argument(
        "--pipecat",
        type=Path,
        default=None,
        metavar="DIR",
        help="Also run each N against the Pipecat reference server in DIR "
        "(../shared/anchors/pipecat) and print both side by side.",
    )
    parser.add_argument(
        "--pipecat-venv",
        type=Path,
        default=Path(os.environ.get("PIPECAT_VENV", "/tmp/pipecat-venv")),
        help="Its environment (built by DIR/setup-venv.sh).",
    )
    parser.add_argument(
        "--smart-turn",
        action="store_true",
        help="End turns with the semantic turn model too (the product's SMART_TURN, the "
        "anchor's TURN_STOP=smart-turn); default: the VAD (and the text) alone, on both.",
    )
    parser.add_argument("--no-codec", action="store_true", help="Skip the codec rows.")
    parser.add_argument("--drop-db", action="store_true", help="Drop the bench DB at the end.")
    add_server_arguments(parser, "DATABASE_CONN_MAX_AGE=60")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls = "1,10"
        args.min_replies = min(args.min_replies, 6)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.pipecat is not None:
        args.pipecat = args.pipecat.resolve()
        if not (args.pipecat / "bot_server.py").exists():
            parser.error(f"--pipecat: no bot_server.py in {args.pipecat}")
        if not (args.pipecat_venv / "bin" / "uvicorn").exists():
            parser.error(
                f"--pipecat-venv: no uvicorn in {args.pipecat_venv}; build it with "
                f"bash {args.pipecat}/setup-venv.sh"
            )
    return args


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


@dataclass
class Run:
    """One server's rounds, and what stopped them early, if anything."""

    label: str
    rounds: list[Round] = field(default_factory=list)
    failure: str = ""
    log_errors: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)


def measure(label: str, new_target, counts: list[int], args, line: bytes, delays, vad) -> Run:
    """Each N on a fresh server (`new_target(n)`), warmed by one call first."""
    run = Run(label)
    for n in counts:
        target = new_target(n)
        run.logs += target.logs
        try:
            target.start()
            warm = asyncio.run(run_round(1, 1, line, target, 0, 60))
            if warm.dropped:
                raise RuntimeError(f"the warm-up call failed: {warm.dropped[0].problem}")
            turns = max(args.turns, math.ceil(args.min_replies / n))
            # above the simulator's own worst case: every wait (greeting, each reply) at its
            # 20 s reply timeout, plus the lines themselves
            timeout = 30 + (turns + 1) * 25 + args.ramp
            print(f"{label} N={n}: {turns} line(s) per call ...", flush=True)
            result = asyncio.run(run_round(n, turns, line, target, args.ramp, timeout))
            if target.has_records:
                result.unclosed = wait_calls_left_open([o.call_sid for o in result.outcomes])
            analyse(result, delays, vad, records=target.has_records)
            run.rounds.append(result)
            print(
                f"  {result.wall:.1f} s, dropped {len(result.dropped)}, answered "
                f"{result.answered}/{n * turns}, overhead p95 "
                f"{percentile(result.overhead, 95):.0f} ms"
                + (f", calls left open {result.unclosed}" if target.has_records else ""),
                flush=True,
            )
            for problem, count in _problems(result)[:3]:
                print(f"  dropped: {count} x {problem}", flush=True)
            if spread := _spread(result):
                print(f"  calls held, by process: {spread}", flush=True)
            if gone := target.exited():
                run.failure = f"{label} server exited during N={n}: {gone}"
                break
        except (RuntimeError, OSError, psycopg.Error) as exc:
            run.failure = f"{label} N={n}: {type(exc).__name__}: {exc}"
            break
        finally:
            target.stop()
            run.log_errors += target.log_errors()
    if run.failure:
        print(f"stopped early: {run.failure}", flush=True)
    return run


def _spread(result: Round) -> str:
    """How the balancer spread the calls (HAProxy's X-Served-By on each stream's handshake)."""
    from voiceapp.scaleout import SERVED_BY

    held: dict[str, int] = {}
    for o in result.outcomes:
        if o.report is not None and (name := o.report.stream_headers.get(SERVED_BY.lower())):
            held[name] = held.get(name, 0) + 1
    return ", ".join(f"{name} {count}" for name, count in sorted(held.items()))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    counts = [int(n) for n in args.calls.split(",") if n.strip()]
    extra = server_extra(args)
    signal.signal(signal.SIGTERM, _terminate)
    cpus = sorted(os.sched_getaffinity(0))
    single_pinned = args.pin and args.processes == 1 and len(cpus) >= 2
    if single_pinned:
        os.sched_setaffinity(0, {cpus[1]})  # the client; the server goes on cpus[0]
    server_cpu = cpus[0] if single_pinned else None

    from bench.fake_providers import delays as provider_delays

    env = server_env(extra, args.smart_turn)
    if args.processes > 1:
        env["REDIS_URL"] = args.redis_url
    os.environ.update({k: v for k, v in env.items() if k.startswith("BENCH_")})
    delays = provider_delays()
    print(f"preparing database {DB_NAME} ...", flush=True)
    recreate_database()
    migrate_and_seed(env)
    log_root = Path(tempfile.mkdtemp(prefix="voiceapp-bench-"))
    anchor = None
    if args.pipecat is not None:
        anchor_logs = log_root / "pipecat"
        anchor_logs.mkdir()
        anchor = Anchor(args.pipecat, args.pipecat_venv, anchor_logs, server_cpu, args.smart_turn)
        print("the caller's line: the Pipecat client's utterance ...", flush=True)
        line = anchor.utterance(log_root / "utterance.ulaw")
    else:
        from telephony.simulator import speech

        print("synthesising the caller's line ...", flush=True)
        line = speech(LINE)
    vad_delay = vad_decision_delay_ms(line)
    print(f"  {len(line) / 8000:.2f} s of speech; VAD decides {vad_delay:.0f} ms after its end")

    with tempfile.TemporaryDirectory(prefix="call-latency-") as tmp:
        env["MEDIA_ROOT"] = str(Path(tmp) / "media")  # recordings go here, not into the repo

        def product(n: int) -> Target:
            logs = log_root / f"product-{n}"
            logs.mkdir()
            if args.processes > 1:
                return ScaledProduct(env, logs, args.processes)
            return OneServer(env, logs, server_cpu)

        try:
            ours = measure("product", product, counts, args, line, delays, vad_delay)
            theirs = None
            if anchor is not None:

                def reference(n: int) -> Target:
                    logs = log_root / f"pipecat-{n}"
                    logs.mkdir()
                    return Anchor(
                        args.pipecat, args.pipecat_venv, logs, server_cpu, args.smart_turn
                    )

                theirs = measure("Pipecat", reference, counts, args, line, delays, vad_delay)
        finally:
            if args.drop_db:
                drop_database()
    for run in (ours, theirs):
        if run is not None and run.log_errors:
            print(
                f"{run.label} servers' logs ({log_root}) have {len(run.log_errors)} error line(s):"
            )
            print("\n".join(f"  {ln[:300]}" for ln in run.log_errors[-8:]))
    codec = []
    if not args.no_codec:
        from bench.codec import codec_rows

        print("measuring the codec ...", flush=True)
        codec = codec_rows()
    if args.processes > 1:
        servers = f"{args.processes} {extra['WEB_SERVER']} processes (CPU i each) behind HAProxy"
    else:
        servers = f"one {extra['WEB_SERVER']} process" + (
            f" on CPU {server_cpu}" if single_pinned else ""
        )
    note = f"{os.cpu_count()} cores; bench client in one process on the same machine"
    if single_pinned:
        note += f", on CPU {cpus[1]}"
    note += "; end of turn: " + ("VAD + text + Smart Turn" if args.smart_turn else "VAD + text")
    note += "; phrase cache off"
    if ours.failure:
        note += f"; STOPPED EARLY: {ours.failure}"
    note += server_env_note(extra)
    print()
    print(render(ours.rounds, delays, vad_delay, codec, note, servers))
    if theirs is not None:
        print()
        print(render_side_by_side(ours, theirs, delays, servers, single_pinned, args.smart_turn))
    print(f"logs: {log_root}")


if __name__ == "__main__":
    main()
