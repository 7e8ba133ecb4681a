"""Benchmark: N concurrent simulated calls against one Daphne process.

Run from the project root:

    .venv/bin/python -m bench.call_latency [--calls 1,10,50,100,200] [--turns 2] [--quick]

It creates a fresh PostgreSQL database `voiceapp_bench` (dropped first if it exists), migrates
and seeds it (one tenant, one Twilio account, one number, one agent on the fixed-delay
providers of bench.fake_providers), starts ONE Daphne process on a free port, and for each N
runs N SimulatedCallers (telephony.simulator) at once from this process: each call waits for
the greeting, then says the same pre-synthesised line (piper, so the server's real VAD hears
real speech) `--turns` times, each after the agent's previous reply.

Figures, per N:
- server-added latency: from the server's own per-turn timings (calls_turn.timings, ms after
  the caller's end of speech): first_frame_sent - endpoint - (STT + LLM + TTS delays), i.e.
  what the server adds between its VAD deciding the caller stopped and the first agent frame
  being handed to the socket, beyond what the (fake) providers take;
- client view: the caller's measured latency (first agent frame received after the caller's
  last frame sent) minus the VAD's decision delay (the stop hangover plus the line's trailing
  silence and window alignment, measured offline by feeding the same line to the same VAD)
  and minus the provider delays. It adds what the server-side view cannot see: inbound frames
  queued before the server reads them, and the outbound socket and client loop;
- client raw: the caller's measured latency itself;
- CPU: the Daphne process's CPU time (utime + stime from /proc) over the round's wall time,
  as % of one core, in total and per call; memory: Daphne's RSS growth to the round's peak
  per call; the bench client's own CPU (it shares the machine's cores with Daphne);
- late outbound frames (agent audio that reached the caller after the audio before it had
  finished playing) and dropped calls (refused, raised, timed out, a line left unanswered,
  or the stream closed by the server).

Daphne is always terminated at the end. The bench database is left in place for inspection
(it is dropped and recreated at the start of the next run); `--drop-db` drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "voiceapp_bench"
PG = "postgresql://postgres@127.0.0.1:5432"
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token"
NUMBER = "+15005550006"
PUBLIC_BASE_URL = "https://bench.example.test"
LINE = "I would like a large latte please"
GREETING = "Hi, Bench Coffee."
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_P95_1 = 20.0  # ms, server-added p95 with 1 call
TARGET_P95_100 = 60.0  # ms, with 100 calls
TARGET_CPU_PER_CALL = 1.0  # % of one core


# ---------------------------------------------------------------- set-up (database, server)


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of every Django process of the benchmark (migrate, seed, Daphne)."""
    from cryptography.fernet import Fernet

    from bench.fake_providers import DEFAULT_DELAYS_MS

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
    )
    for role, default in DEFAULT_DELAYS_MS.items():
        name = f"BENCH_{role.upper()}_DELAY_MS"
        env[name] = os.environ.get(name, str(default))
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_daphne(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    # The web process as production starts it: Daphne with the project's timeouts.
    command = [sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port", str(port)]
    log = open(log_path, "wb")  # the child keeps its own descriptor
    try:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def wait_healthy(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Daphne exited ({proc.returncode}):\n{_tail(log_path)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Daphne not healthy after {timeout:.0f}s:\n{_tail(log_path)}")


def stop_daphne(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _log_errors(path: Path) -> list[str]:
    """Lines of Daphne's log that report an error (access log lines left out)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    marks = ("ERROR", "CRITICAL", "Traceback", "Error:", "Exception")
    return [ln for ln in text.splitlines() if any(m in ln for m in marks)]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- process figures


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid` (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


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
    daphne_cpu: float = 0.0
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
    n: int, turns: int, line: bytes, port: int, pid: int, ramp: float, call_timeout: float
) -> Round:
    from telephony.simulator import SimulatedCaller

    result = Round(n, turns)
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
            samples.append((time.monotonic(), proc_cpu_seconds(pid), active))
            result.rss_peak = max(result.rss_peak, proc_rss_mib(pid))
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass

    callers = [
        SimulatedCaller(
            server=f"http://127.0.0.1:{port}",
            public_base_url=PUBLIC_BASE_URL,
            auth_token=AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            to_number=NUMBER,
        )
        for _ in range(n)
    ]
    result.rss_before = result.rss_peak = proc_rss_mib(pid)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(stop))
    cpu0, client0, t0 = proc_cpu_seconds(pid), self_cpu_seconds(), time.monotonic()
    result.outcomes = list(await asyncio.gather(*(one(i, c) for i, c in enumerate(callers))))
    result.wall = time.monotonic() - t0
    result.daphne_cpu = proc_cpu_seconds(pid) - cpu0
    result.client_cpu = self_cpu_seconds() - client0
    stop.set()
    await sampler
    result.rss_peak = max(result.rss_peak, proc_rss_mib(pid))
    full = [(t, cpu) for t, cpu, up in samples if up == n]
    if len(full) >= 4 and full[-1][0] - full[0][0] >= 1.0:
        result.steady_cpu_pct = (full[-1][1] - full[0][1]) / (full[-1][0] - full[0][0]) * 100
    return result


# ---------------------------------------------------------------- the server's records


def wait_calls_closed(call_sids: list[str], timeout: float = 60) -> int:
    """Wait until the server has written the end of every call; returns how many it has."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        while True:
            closed = conn.execute(
                "SELECT count(*) FROM calls_call WHERE twilio_call_sid = ANY(%s) AND outcome <> ''",
                (call_sids,),
            ).fetchone()[0]
            if closed >= len(call_sids) or time.monotonic() > deadline:
                return closed
            time.sleep(0.5)


def wait_idle(pid: int, timeout: float = 60, busy_pct: float = 5.0) -> float:
    """Wait until the process uses under `busy_pct` of a core over a second (a round's
    backlog must not spill into the next); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = proc_cpu_seconds(pid)
        time.sleep(1.0)
        if (proc_cpu_seconds(pid) - before) * 100 < busy_pct:
            break
    return time.monotonic() - started


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


def analyse(result: Round, delays: dict[str, float], vad_delay_ms: float) -> None:
    stt, llm, tts = (delays[r] * 1000 for r in ("stt", "llm", "tts"))
    providers = stt + llm + tts
    sids = [o.call_sid for o in result.outcomes if o.report is not None]
    for timings in server_timings(sids):
        needed = ("endpoint", "stt_final", "llm_first_token", "tts_first_audio")
        if "first_frame_sent" not in timings or any(k not in timings for k in needed):
            result.turns_missing += 1
            continue
        end, sent = timings["endpoint"], timings["first_frame_sent"]
        result.server_added.append(sent - end - providers)
        for stage, value in (
            ("stt", timings["stt_final"] - end - stt),
            ("llm", timings["llm_first_token"] - timings["stt_final"] - llm),
            ("tts", timings["tts_first_audio"] - timings["llm_first_token"] - tts),
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
        "Daphne CPU % core",
        "CPU %/call (all up)",
        "RSS MiB/call (start->peak)",
        "bench client CPU %",
        "wall s",
    ]
    rows = []
    for r in rounds:
        frames = r.frames_received
        late = f"{r.late_frames} ({r.late_frames / frames * 1000:.1f})" if frames else "-"
        cpu_pct = r.daphne_cpu / r.wall * 100 if r.wall else math.nan
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
        "Call latency: N concurrent simulated calls against one Daphne process "
        f"(provider delays STT {delays['stt'] * 1000:.0f} + LLM {delays['llm'] * 1000:.0f} "
        f"+ TTS {delays['tts'] * 1000:.0f} ms; {env_note})",
        "=" * total,
        line(header),
        "-" * total,
        *(line(row) for row in rows),
        "-" * total,
        "server-added: first_frame_sent - endpoint - provider delays, from the server's turn "
        "timings (after its VAD decided speech ended).",
        f"client view: client raw - VAD decision delay ({vad_delay_ms:.0f} ms: 240 ms stop "
        "hangover + the line's trailing silence + window alignment, measured offline; "
        "+-16 ms per reply) - provider delays.",
        "CPU %/call: Daphne CPU over the whole round / wall / N (in brackets: over the "
        "window while all N calls were up). RSS: growth to the round's peak / N.",
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
            "tts: ->first audio, each minus its provider delay; send: first audio->first frame "
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
        cpu = r.daphne_cpu / r.wall * 100 / r.n if r.wall else math.nan
        saturated = r.daphne_cpu / r.wall >= 0.8 if r.wall else False
        note = f"{cpu:.2f}%"
        if r.dropped or saturated:
            # A saturated server's CPU / N is its ceiling shared out, not what a call costs.
            note += f", Daphne at {r.daphne_cpu / r.wall * 100:.0f}% of a core"
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
    parser.add_argument("--no-codec", action="store_true", help="Skip the codec rows.")
    parser.add_argument("--drop-db", action="store_true", help="Drop the bench DB at the end.")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Extra environment for Daphne (e.g. DATABASE_CONN_MAX_AGE=60).",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.calls = "1,10"
        args.min_replies = min(args.min_replies, 6)
    return args


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    counts = [int(n) for n in args.calls.split(",") if n.strip()]
    extra = dict(item.split("=", 1) for item in args.server_env)
    signal.signal(signal.SIGTERM, _terminate)

    from bench.fake_providers import delays as provider_delays
    from telephony.simulator import speech

    env = server_env(extra)
    os.environ.update({k: v for k, v in env.items() if k.startswith("BENCH_")})
    delays = provider_delays()
    print(f"preparing database {DB_NAME} ...", flush=True)
    recreate_database()
    migrate_and_seed(env)
    print("synthesising the caller's line ...", flush=True)
    line = speech(LINE)
    vad_delay = vad_decision_delay_ms(line)
    print(f"  {len(line) / 8000:.2f} s of speech; VAD decides {vad_delay:.0f} ms after its end")

    rounds: list[Round] = []
    failure = ""
    log_path = Path(tempfile.gettempdir()) / "voiceapp-bench-daphne.log"
    with tempfile.TemporaryDirectory(prefix="call-latency-") as tmp:
        env["MEDIA_ROOT"] = str(Path(tmp) / "media")  # recordings go here, not into the repo
        port = free_port()
        proc = start_daphne(env, port, log_path)
        try:
            wait_healthy(proc, port, log_path)
            print(f"Daphne pid {proc.pid} on 127.0.0.1:{port}, log {log_path}", flush=True)
            for n in counts:
                turns = max(args.turns, math.ceil(args.min_replies / n))
                # above the simulator's own worst case: every wait (greeting, each reply) at its
                # 20 s reply timeout, plus the lines themselves
                timeout = 30 + (turns + 1) * 25 + args.ramp
                print(f"N={n}: {turns} line(s) per call ...", flush=True)
                result = asyncio.run(run_round(n, turns, line, port, proc.pid, args.ramp, timeout))
                closed = wait_calls_closed([o.call_sid for o in result.outcomes])
                result.unclosed = n - closed
                wait_idle(proc.pid)
                analyse(result, delays, vad_delay)
                rounds.append(result)
                print(
                    f"  {result.wall:.1f} s, dropped {len(result.dropped)}, "
                    f"calls closed by the server {closed}/{n}, p95 server-added "
                    f"{percentile(result.server_added, 95):.0f} ms",
                    flush=True,
                )
                for problem, count in _problems(result)[:3]:
                    print(f"  dropped: {count} x {problem}", flush=True)
                if proc.poll() is not None:
                    failure = f"Daphne exited ({proc.returncode}) during N={n}"
                    break
        except (RuntimeError, OSError, psycopg.Error) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            stop_daphne(proc)
            if args.drop_db:
                drop_database()
    log_errors = _log_errors(log_path)
    if failure:
        print(f"stopped early: {failure}", flush=True)
    if log_errors:
        print(f"Daphne's log ({log_path}) has {len(log_errors)} error line(s), the last:")
        print("\n".join(f"  {ln[:300]}" for ln in log_errors[-8:]))
    codec = []
    if not args.no_codec:
        from bench.codec import codec_rows

        print("measuring the codec ...", flush=True)
        codec = codec_rows()
    note = f"{os.cpu_count()} cores; bench client in one process on the same machine"
    if failure:
        note += f"; STOPPED EARLY: {failure}"
    if extra:
        note += "; server env " + " ".join(f"{k}={v}" for k, v in extra.items())
    print()
    print(render(rounds, delays, vad_delay, codec, note))


if __name__ == "__main__":
    main()
