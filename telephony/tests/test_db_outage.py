"""A database outage: the caller still hears a polite answer, quickly; the status webhook asks
to be retried; /readyz says the database is not ready."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.db import connections
from django.db.backends.postgresql.base import DatabaseWrapper

from telephony.tests.test_webhooks import signed_post

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {
    "AccountSid": "AC" + "1" * 32,
    "CallSid": "CA" + "7" * 32,
    "From": "+14155559999",
    "To": "+14155550101",
    "CallStatus": "ringing",
}


@pytest.fixture
def database_down(django_db_blocker):
    """This thread's default database is PostgreSQL on a closed port, with the real settings
    (the pool, its wait, the connect timeout)."""
    real = connections["default"]
    unreachable = DatabaseWrapper(
        {**real.settings_dict, "HOST": "127.0.0.1", "PORT": "1"}, alias="unreachable"
    )
    connections["default"] = unreachable
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        connections["default"] = real
        unreachable.close_pool()


def test_database_waits_are_bounded_by_the_settings(settings):
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["pool"]["timeout"] == settings.DATABASE_TIMEOUT < 2
    assert options["connect_timeout"] == settings.DATABASE_CONNECT_TIMEOUT


def test_voice_webhook_answers_politely_and_fast(client, database_down, caplog):
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="telephony.views"):
        response = signed_post(client, "/telephony/twilio/voice/", PARAMS, "any-token")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    body = response.content.decode()
    assert "we cannot take your call right now" in body and "<Hangup" in body
    assert "<Connect" not in body
    assert elapsed < 2, elapsed
    [record] = [r for r in caplog.records if r.name == "telephony.views"]
    assert record.levelno == logging.ERROR
    assert "voice webhook: the database is unavailable" in record.getMessage()
    assert record.call_sid == PARAMS["CallSid"]
    assert "any-token" not in record.getMessage()


def test_status_webhook_asks_to_be_retried(client, database_down, caplog):
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="telephony.views"):
        response = signed_post(
            client, "/telephony/twilio/status/", {**PARAMS, "CallStatus": "completed"}, "x"
        )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert time.monotonic() - started < 2
    assert any("status webhook" in r.getMessage() for r in caplog.records)


def test_readyz_says_the_database_is_down_fast(client, database_down):
    started = time.monotonic()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("OperationalError")
    assert time.monotonic() - started < 2


# -- SQLite, locked by another process (the demo's database)

LOCKED_SQLITE = textwrap.dedent(
    """
    import json, subprocess, sys, time
    import django
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from twilio.request_validator import RequestValidator

    from calls.models import Agent
    from telephony.models import PhoneNumber, TwilioAccount
    from voiceapp.models import Tenant

    db = sys.argv[1]
    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Shop", slug="shop")
    account = TwilioAccount.objects.create(
        tenant=tenant, name="A", account_sid="AC" + "1" * 32, auth_token="token-a"
    )
    agent = Agent.objects.create(tenant=tenant, name="Agent")
    PhoneNumber.objects.create(tenant=tenant, account=account, number="+14155550101", agent=agent)
    client = Client(raise_request_exception=False, HTTP_HOST="localhost")

    def voice(call_sid):
        params = {
            "AccountSid": account.account_sid, "CallSid": call_sid, "From": "+14155559999",
            "To": "+14155550101", "CallStatus": "ringing",
        }
        url = "http://localhost:8000/telephony/twilio/voice/"
        signature = RequestValidator("token-a").compute_signature(url, params)
        started = time.monotonic()
        response = client.post(
            "/telephony/twilio/voice/", params, HTTP_X_TWILIO_SIGNATURE=signature
        )
        return {
            "status": response.status_code,
            "body": response.content.decode(),
            "seconds": time.monotonic() - started,
        }

    def readyz():
        started = time.monotonic()
        response = client.get("/readyz")
        return {
            "status": response.status_code,
            "database": response.json()["checks"]["database"],
            "seconds": time.monotonic() - started,
        }

    results = {"unlocked": {"voice": voice("CA" + "0" * 32), "readyz": readyz()}}
    for n, mode in enumerate(["EXCLUSIVE", "IMMEDIATE"], start=1):
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
             f"c.execute('BEGIN {mode}'); print('locked', flush=True); sys.stdin.read()", db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert holder.stdout.readline().strip() == "locked"
        try:
            results[mode] = {"voice": voice("CA" + str(n) * 32), "readyz": readyz()}
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def locked_sqlite(tmp_path_factory) -> dict:
    """Django on SQLite in DEBUG (the demo's set-up) in a subprocess: the voice webhook and
    /readyz with the database free, then while another process holds `BEGIN EXCLUSIVE`, then
    `BEGIN IMMEDIATE` (a writer mid-transaction: readers pass, writers wait)."""
    tmp = tmp_path_factory.mktemp("locked")
    db = tmp / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceapp.settings",
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{db}",
        MEDIA_ROOT=str(tmp / "media"),
        REDIS_URL="",
        PUBLIC_BASE_URL="http://localhost:8000",
        ALLOWED_HOSTS="localhost",
        PRELOAD_SPEECH_MODELS="false",
    )
    result = subprocess.run(
        [sys.executable, "-c", LOCKED_SQLITE, str(db)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {"results": json.loads(result.stdout.strip().splitlines()[-1]), "log": result.stderr}


def test_sqlite_unlocked_answers_the_call(locked_sqlite):
    unlocked = locked_sqlite["results"]["unlocked"]
    assert unlocked["voice"]["status"] == 200 and "<Connect>" in unlocked["voice"]["body"]
    assert unlocked["readyz"]["status"] == 200 and unlocked["readyz"]["database"] == "ok"


@pytest.mark.parametrize("mode", ["EXCLUSIVE", "IMMEDIATE"])
def test_sqlite_locked_voice_webhook_answers_politely_and_fast(locked_sqlite, mode):
    voice = locked_sqlite["results"][mode]["voice"]
    assert voice["status"] == 200
    assert "we cannot take your call right now" in voice["body"]
    assert voice["seconds"] < 2, voice
    assert "voice webhook: the database is unavailable" in locked_sqlite["log"]
    assert "database is locked" in locked_sqlite["log"]


@pytest.mark.parametrize("mode", ["EXCLUSIVE", "IMMEDIATE"])
def test_sqlite_locked_readyz_is_503_naming_the_database(locked_sqlite, mode):
    readyz = locked_sqlite["results"][mode]["readyz"]
    assert readyz["status"] == 503
    assert "database is locked" in readyz["database"]
    assert readyz["seconds"] < 2, readyz
