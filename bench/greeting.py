"""Benchmark: how fast the greeting reaches callers when many calls arrive at once.

Run from the project root:

    .venv/bin/python -m bench.greeting [--calls 100] [--ramp 2] [--rounds 2] [--greeting TEXT]

It creates a PostgreSQL database `voiceapp_bench_greeting` (dropped first if it exists),
migrates and seeds it as bench.call_latency does (one tenant, account, number and agent on the
fixed-delay providers of bench.fake_providers; the agent's greeting set to `--greeting`), starts
ONE web process (`manage.py serve`: Daphne, or uvicorn with `--server uvicorn`) and, `--rounds`
times, opens `--calls` simulated calls (telephony.simulator) whose starts are spread evenly over
`--ramp` seconds. Each caller waits for the greeting, lets it play and hangs up.

Greeting latency is the caller's view: from sending the stream's `start` message to receiving
the first frame of the agent's audio. It includes the server's set-up of the call (the stream's
checks, the database, the providers, the VAD) and the greeting's synthesis (BENCH_TTS_DELAY_MS,
80 ms by default, whenever the audio is not ready). The first round is the process's first
burst; later rounds show a warm process. The voice webhook's own time is shown apart.

The server runs as deployed: the phrase cache on, and the agent's greeting (a fixed line, digits
and all: calls.greeting) synthesized into it when the process starts, so calls play it from
the cache. `--server-env PHRASE_CACHE_MAX_BYTES=0` measures a greeting synthesized per call.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.call_latency import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    NUMBER,
    PG,
    PUBLIC_BASE_URL,
    _django,
    _terminate,
    percentile,
    server_env,
)
from bench.servers import (
    OneServer,
    _log_errors,
    add_server_arguments,
    proc_cpu_seconds,
    self_cpu_seconds,
    server_env_note,
    server_extra,
)

DB_NAME = "voiceapp_bench_greeting"
GREETING = "Thanks for calling Bench Coffee on 555 0100, open 7 till 7. How can I help you today?"
TARGET_P95_MS = 300.0


def recreate_database() -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def seed(greeting: str) -> None:
    """Run inside Django: bench.call_latency's world, with this benchmark's greeting."""
    from bench.call_latency import seed as seed_world
    from calls.models import Agent

    seed_world()
    for agent in Agent.objects.all():
        agent.greeting = greeting
        agent.save()


@dataclass
class Round:
    n: int
    greeting_ms: list[float] = field(default_factory=list)
    webhook_ms: list[float] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    daphne_cpu: float = 0.0
    client_cpu: float = 0.0
    server_ms: list[float] = field(default_factory=list)  # claimed -> first frame sent


async def run_round(n: int, ramp: float, port: int, pid: int, timeout: float) -> Round:
    from telephony.simulator import SimulatedCaller

    class TimedCaller(SimulatedCaller):
        """A caller that notes when its webhook was sent and when its stream started."""

        webhook_at = stream_at = 0.0
        webhook_done = 0.0

        async def _voice_webhook(self):
            self.webhook_at = time.monotonic()
            try:
                return await super()._voice_webhook()
            finally:
                self.webhook_done = time.monotonic()

        def _start(self, stream_sid, parameters):
            self.stream_at = time.monotonic()
            return super()._start(stream_sid, parameters)

    result = Round(n)

    def problem(text: str) -> None:
        result.problems[text] = result.problems.get(text, 0) + 1

    async def one(i: int) -> None:
        await asyncio.sleep(i * ramp / n if n > 1 else 0)
        caller = TimedCaller(
            server=f"http://127.0.0.1:{port}",
            public_base_url=PUBLIC_BASE_URL,
            auth_token=AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            to_number=NUMBER,
            settle=0.3,
        )
        try:
            async with asyncio.timeout(timeout):
                report = await caller.run([])
        except TimeoutError:
            problem(f"timed out after {timeout:.0f}s")
            return
        except Exception as exc:  # a failed call is counted and named, not fatal
            problem(f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:120])
            return
        if caller.webhook_done:
            result.webhook_ms.append((caller.webhook_done - caller.webhook_at) * 1000)
        if report.greeting.first_frame_at is None:
            problem("no greeting")
            return
        result.greeting_ms.append((report.greeting.first_frame_at - caller.stream_at) * 1000)

    cpu0, client0, t0 = proc_cpu_seconds(pid), self_cpu_seconds(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    result.wall = time.monotonic() - t0
    result.daphne_cpu = proc_cpu_seconds(pid) - cpu0
    result.client_cpu = self_cpu_seconds() - client0
    return result


def server_greeting_ms(since: float) -> list[float]:
    """The server's own view, from its records: from the moment the call was claimed and
    marked in progress (Call.answered_at) to the greeting's first frame handed to the socket
    (the greeting turn's started_at), for calls created in the last `since` seconds."""
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM (t.started_at - c.answered_at)) * 1000 FROM calls_call c "
            "JOIN calls_turn t ON t.call_id = c.id AND t.index = 0 AND t.speaker = 'agent' "
            "WHERE c.created_at > now() - make_interval(secs => %s) "
            "AND c.answered_at IS NOT NULL",
            (since,),
        ).fetchall()
    return [float(r[0]) for r in rows]


def _pcts(values: list[float]) -> str:
    if not values:
        return "-"
    return " / ".join(f"{percentile(values, q):,.0f}" for q in (50, 95, 99)) + (
        f" (max {max(values):,.0f})"
    )


def render(rounds: list[Round], args: argparse.Namespace, note: str) -> str:
    header = ["round", "calls", "greeted", "greeting ms p50/p95/p99", "server part ms p50/p95/p99"]
    header += ["webhook ms p50/p95/p99", "server CPU s", "client CPU %", "wall s"]
    rows = [
        [
            str(k + 1),
            str(r.n),
            str(len(r.greeting_ms)),
            _pcts(r.greeting_ms),
            _pcts(r.server_ms),
            _pcts(r.webhook_ms),
            f"{r.daphne_cpu:.1f}",
            f"{r.client_cpu / r.wall * 100:.0f}" if r.wall else "-",
            f"{r.wall:.1f}",
        ]
        for k, r in enumerate(rounds)
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    total = sum(widths) + 2 * (len(widths) - 1)

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))

    out = [
        f"Greeting latency: {args.calls} calls arriving within {args.ramp:g} s, one "
        f"{args.server} process ({note})",
        f"greeting: {args.greeting!r}",
        "=" * total,
        line(header),
        "-" * total,
        *(line(row) for row in rows),
        "-" * total,
        "greeting ms: from the stream's start message sent to the first agent audio frame "
        "received (the caller's view; the callers share this machine's cores, see client CPU).",
        "server part: from the call claimed and marked in progress to the greeting's first frame "
        "handed to the socket (the server's records: the call's answered_at, the greeting turn's "
        "started_at); the rest of the greeting's wait is before the claim (the stream's start "
        "message queued, the database thread) or after the send (sockets, the callers' loop).",
    ]
    for k, r in enumerate(rounds):
        for text, count in sorted(r.problems.items(), key=lambda kv: -kv[1])[:5]:
            out.append(f"  round {k + 1}: {count} x {text}")
    for k, r in enumerate(rounds):
        p95 = percentile(r.greeting_ms, 95) if r.greeting_ms else math.nan
        ok = r.greeting_ms and p95 < TARGET_P95_MS and not r.problems
        out.append(
            f"  target, round {k + 1}: greeting p95 < {TARGET_P95_MS:.0f} ms with every call "
            f"greeted: {'yes' if ok else 'NO'} ({p95:,.0f} ms)"
        )
    out.append("=" * total)
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="Calls per round.")
    parser.add_argument("--ramp", type=float, default=2.0, help="Seconds the starts span.")
    parser.add_argument("--rounds", type=int, default=2, help="Bursts, one after the other.")
    parser.add_argument("--greeting", default=GREETING, help="The agent's greeting.")
    add_server_arguments(parser, "PRELOAD_SPEECH_MODELS=true")
    return parser.parse_args(argv)


def wait_idle(pid: int, quiet: float = 0.05, limit: float = 30.0) -> None:
    """Until the server has used under `quiet` of a core for half a second (start-up's model
    loading and greeting synthesis done), at most `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = proc_cpu_seconds(pid)
        time.sleep(0.5)
        if proc_cpu_seconds(pid) - before < quiet * 0.5:
            return


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    extra = server_extra(args)
    database_url = f"{PG}/{DB_NAME}".replace("postgresql://", "postgres://")
    env = server_env({"DATABASE_URL": database_url, **extra})
    if "PHRASE_CACHE_MAX_BYTES" not in extra:
        # bench.call_latency turns the phrase cache off (its fake answer never changes); the
        # greeting is the very thing the cache is for (prepared when the process starts).
        del env["PHRASE_CACHE_MAX_BYTES"]
    print(f"preparing database {DB_NAME} ...", flush=True)
    recreate_database()
    _django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    code = f"import django; django.setup(); import bench.greeting as b; b.seed({args.greeting!r})"
    _django(env, "-c", code)

    rounds: list[Round] = []
    failure = ""
    log_dir = Path(tempfile.mkdtemp(prefix="voiceapp-bench-greeting-"))
    log_path = log_dir / "server.log"
    cpus = sorted(os.sched_getaffinity(0))
    pinned = len(cpus) >= 2
    if pinned:
        os.sched_setaffinity(0, {cpus[1]})  # the callers; the server on cpus[0]
    with tempfile.TemporaryDirectory(prefix="greeting-") as tmp:
        env["MEDIA_ROOT"] = str(Path(tmp) / "media")
        server = OneServer(env, log_dir, cpus[0] if pinned else None)
        server.start()
        proc = server.procs[0]
        port = int(server.url.rsplit(":", 1)[1])
        try:
            wait_idle(proc.pid)
            print(f"{args.server} pid {proc.pid} on {server.url}, log {log_path}", flush=True)
            for k in range(args.rounds):
                started = time.monotonic()
                result = asyncio.run(run_round(args.calls, args.ramp, port, proc.pid, 60.0))
                wait_idle(proc.pid)
                result.server_ms = server_greeting_ms(time.monotonic() - started + 1)
                rounds.append(result)
                p95 = percentile(result.greeting_ms, 95) if result.greeting_ms else math.nan
                print(
                    f"round {k + 1}: {len(result.greeting_ms)}/{args.calls} greeted, "
                    f"p95 {p95:,.0f} ms",
                    flush=True,
                )
                if proc.poll() is not None:
                    failure = f"the server exited ({proc.returncode})"
                    break
        except (RuntimeError, OSError, psycopg.Error) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            server.stop()
    errors = _log_errors(log_path)
    if failure:
        print(f"stopped early: {failure}")
    if errors:
        print(f"The server's log ({log_path}) has {len(errors)} error line(s), the last:")
        print("\n".join(f"  {ln[:300]}" for ln in errors[-5:]))
    note = f"{os.cpu_count()} cores, the callers in one process on the same machine"
    note += server_env_note(extra)
    print()
    print(render(rounds, args, note))


if __name__ == "__main__":
    main()
