"""Benchmark: the campaign dialer on real Redis and PostgreSQL, with 4 rq worker processes and a
local fake Twilio, one of the workers killed with SIGKILL mid-run.

Run from the project root (PostgreSQL and Redis on 127.0.0.1):

    .venv/bin/python -m bench.dialer [--contacts 10000] [--workers 4] [--cap 200] [--quick]

It recreates a PostgreSQL database `voiceapp_bench_dialer` and uses Redis database 12
(flushed first), never the developer's. One tenant, one campaign of N contacts (every day,
8:00-21:00 in a zone where it is now midday), caps of `--cap` calls in flight for the
campaign and the tenant. The scheduler pass runs in this process (as `run_dialer` would);
the dial jobs run in `--workers` rq SimpleWorker processes (`manage.py rqworker`), which dial
through a fake Twilio served from this process. The fake "answers" each call and ends it
`--hold` ms later (completed, as the status webhook would), freeing its slot.

Printed: claims per second (claimed attempts over the time spent in scheduler passes, and over
the whole run), the most attempts in flight and the most live calls at the carrier against
the cap, double dials (a contact dialled twice: every call is answered, so nobody is retried),
and, after a worker is SIGKILLed a third of the way through and the reaper runs once its
timeouts have passed, lost attempts (not done at the end, or marked lost).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "voiceapp_bench_dialer"
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/12"


class Carrier(BaseHTTPRequestHandler):
    """Twilio's Calls endpoint: a new CallSid per call, each call ended `hold` seconds later."""

    dials: Counter = Counter()
    live: set[str] = set()
    max_live = 0
    hold = 0.2
    ending: list[tuple[float, str]] = []
    lock = threading.Lock()
    sids = iter(range(1, 10**9))

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        with Carrier.lock:
            sid = f"CA{next(Carrier.sids):032x}"
            Carrier.dials[form["To"][0]] += 1
            Carrier.live.add(sid)
            Carrier.max_live = max(Carrier.max_live, len(Carrier.live))
            Carrier.ending.append((time.monotonic() + Carrier.hold, sid))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"sid": sid, "status": "queued"}).encode())

    def log_message(self, *args):
        pass


def end_calls(stop: threading.Event) -> None:
    """The carrier's side of each call's end: the status callback's action, once its sid is
    saved (the dial job saves it right after Twilio answers)."""
    from concurrent.futures import ThreadPoolExecutor

    # Status webhooks arrive in parallel (several web processes): so do these.
    pool = ThreadPoolExecutor(max_workers=6)
    while not stop.is_set():
        now = time.monotonic()
        with Carrier.lock:
            due = [e for e in Carrier.ending if e[0] <= now]
            Carrier.ending = [e for e in Carrier.ending if e[0] > now]
        for _at, sid in due:
            pool.submit(end_one, sid)
        time.sleep(0.01)
    pool.shutdown(wait=True)


def end_one(sid: str) -> None:
    from django.db import close_old_connections

    from calls.actions import finish_call
    from calls.models import Call

    try:
        call_id = Call.objects.filter(twilio_call_sid=sid).values_list("pk", flat=True).first()
        if call_id is None:  # the dial job has not saved the sid yet
            with Carrier.lock:
                Carrier.ending.append((time.monotonic() + 0.05, sid))
            return
        finish_call(call_id, status="completed", outcome="completed", source="bench")
        with Carrier.lock:
            Carrier.live.discard(sid)
    finally:
        close_old_connections()


def bench_env(carrier_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceapp.settings",
        PYTHONPATH=str(ROOT),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        PUBLIC_BASE_URL="https://bench.example.test",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=f"{PG}/{DB_NAME}".replace("postgresql://", "postgres://"),
        REDIS_URL=REDIS,
        TWILIO_API_BASE_URL=carrier_url,
        PRELOAD_SPEECH_MODELS="false",
        LOG_LEVEL="error",
    )
    return env


def recreate_database() -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def seed(contacts: int, cap: int) -> int:
    """The tenant, its number and agent, N contacts in a list, a campaign; returns its id."""
    from calls.models import Agent
    from campaigns.actions import start_campaign
    from campaigns.models import Campaign, Contact, ContactList, TenantDialing
    from telephony.models import PhoneNumber, TwilioAccount
    from voiceapp.models import Tenant

    hour = datetime.datetime.now(datetime.UTC).hour
    offset = 12 - hour
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
    tenant = Tenant.objects.create(name="Bench Dialer", slug="bench-dialer", time_zone=zone)
    TenantDialing.objects.create(tenant=tenant, max_concurrent_calls=cap)
    account = TwilioAccount.objects.create(
        tenant=tenant, name="Bench", account_sid="AC" + "bd" * 16, auth_token="bench-token"
    )
    agent = Agent.objects.create(
        tenant=tenant, name="Caller", greeting="Hi {first_name}. {disclosure}"
    )
    number = PhoneNumber.objects.create(
        tenant=tenant, account=account, number="+15005550006", agent=agent
    )
    people = ContactList.objects.create(tenant=tenant, name="Everyone")
    Contact.objects.bulk_create(
        Contact(tenant=tenant, phone=f"+1201{2000000 + i:07d}", name=f"Person {i}")
        for i in range(contacts)
    )
    people.contacts.add(*Contact.objects.filter(tenant=tenant))
    campaign = Campaign.objects.create(
        tenant=tenant,
        name="Bench",
        agent=agent,
        contact_list=people,
        caller_id=number,
        max_concurrent_calls=cap,
        max_attempts=1,
    )
    start_campaign(campaign.pk, by="bench")
    return campaign.pk


def start_worker(env: dict[str, str], n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "telephony", "default",
         "--worker-class", "rq.worker.SimpleWorker", "--name", f"bench-{n}-{os.getpid()}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cap", type=int, default=200)
    parser.add_argument("--hold", type=float, default=200, help="ms a call lasts")
    parser.add_argument("--quick", action="store_true", help="1,000 contacts")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    contacts = 1000 if args.quick else args.contacts
    Carrier.hold = args.hold / 1000

    server = ThreadingHTTPServer(("127.0.0.1", 0), Carrier)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = bench_env(f"http://127.0.0.1:{server.server_port}")
    os.environ.update(env)
    recreate_database()
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
        check=True,
    )  # fmt: skip
    import django

    django.setup()
    from django.db.models import Q

    from campaigns.attempts import reap_attempts
    from campaigns.dialer import schedule_pass
    from campaigns.models import IN_FLIGHT, Attempt, AttemptResult, AttemptStatus

    campaign_id = seed(contacts, args.cap)
    workers = [start_worker(env, n) for n in range(args.workers)]
    stop = threading.Event()
    threading.Thread(target=end_calls, args=(stop,), daemon=True).start()
    claims, pass_time, max_in_flight, killed, burst = 0, 0.0, 0, None, 0.0
    last_done, progress_at, reaper_runs = 0, time.monotonic(), []
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.timeout:
            t0 = time.monotonic()
            claimed = len(schedule_pass().claimed)
            took = time.monotonic() - t0
            claims, pass_time = claims + claimed, pass_time + took
            if claimed >= 50:  # a pass with many free slots: the claim rate itself
                burst = max(burst, claimed / took)
            flying = Attempt.objects.filter(status__in=IN_FLIGHT).count()
            max_in_flight = max(max_in_flight, flying)
            if killed is None and claims >= contacts // 3:
                killed = workers[0]
                os.kill(killed.pid, signal.SIGKILL)  # mid-run: it holds a job, or is about to
            left = Attempt.objects.filter(
                Q(status=AttemptStatus.SCHEDULED) | Q(status__in=IN_FLIGHT)
            )
            if not left.exists():
                break
            done_now = Attempt.objects.filter(status=AttemptStatus.DONE).count()
            if done_now != last_done:
                last_done, progress_at = done_now, time.monotonic()
            elif time.monotonic() - progress_at > 3:
                # Nothing finished for 3 s: only what the dead worker left is in flight. Run
                # the reaper as it would run once its timeouts (minutes) have passed.
                reaper_runs.append(reap_attempts(now=_later(10)))
                progress_at = time.monotonic()
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for w in workers:
            if w.poll() is None:
                w.terminate()
        for w in workers:
            try:
                w.wait(10)
            except subprocess.TimeoutExpired:
                w.kill()
        server.shutdown()
    done = Attempt.objects.filter(campaign_id=campaign_id, status=AttemptStatus.DONE)
    lost = (
        Attempt.objects.filter(campaign_id=campaign_id).exclude(status=AttemptStatus.DONE).count()
        + done.filter(result=AttemptResult.LOST).count()
    )
    double = sum(1 for n in Carrier.dials.values() if n > 1)
    rows = [
        ("contacts", f"{contacts}", ""),
        ("workers (one SIGKILLed)", f"{args.workers}", ""),
        ("claims per second (a pass with >= 50 free slots)", f"{burst:.0f}", ">= 500"),
        ("claims per second (all passes)", f"{claims / max(pass_time, 1e-9):.0f}", ""),
        ("claims per second (whole run)", f"{claims / elapsed:.0f}", ""),
        ("calls dialled", f"{sum(Carrier.dials.values())}", f"{contacts}"),
        ("most attempts in flight / cap", f"{max_in_flight} / {args.cap}", "<= cap"),
        ("most live calls at the carrier / cap", f"{Carrier.max_live} / {args.cap}", "<= cap"),
        ("double dials", f"{double}", "0"),
        ("lost attempts", f"{lost}", "0"),
        ("reaper runs: requeued/redialled/lost", reaped_summary(reaper_runs), ""),
        ("wall time", f"{elapsed:.1f} s", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'measured':>14}  target")
    for name, value, target in rows:
        print(f"{name:{width}}  {value:>14}  {target}")


def reaped_summary(runs) -> str:
    total = [sum(getattr(r, f) for r in runs) for f in ("requeued", "redialled", "lost")]
    return f"{len(runs)}: " + "/".join(map(str, total))


def _later(minutes: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)


if __name__ == "__main__":
    main()
