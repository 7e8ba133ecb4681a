"""Admission control on the embedded default, as `scripts/demo` runs it: `manage.py serve` on
SQLite with no Redis. Webhooks arriving at once admit exactly the tenant's cap, the others hear
that all lines are busy, and a line freed by a call's end admits the next caller."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import httpx
from twilio.request_validator import RequestValidator

from telephony.tests.test_end_to_end import ROOT, start_server

PUBLIC = "http://localhost:8000"
TOKEN = "token-a"
ACCOUNT = "AC" + "1" * 32

SEED = textwrap.dedent(
    f"""
    import django
    django.setup()
    from django.core.management import call_command

    from calls.models import Agent
    from telephony.models import PhoneNumber, TwilioAccount
    from voiceapp.models import Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Shop", slug="shop", max_concurrent_calls=2)
    account = TwilioAccount.objects.create(
        tenant=tenant, name="A", account_sid="{ACCOUNT}", auth_token="{TOKEN}"
    )
    agent = Agent.objects.create(tenant=tenant, name="Agent")
    PhoneNumber.objects.create(tenant=tenant, account=account, number="+14155550101", agent=agent)
    """
)


async def twilio_posts(server: str, path: str, params: dict[str, str]) -> str:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.post(
            server + path, data=params, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 200, response.text[:300]
    return response.text


async def ring(server: str, n: int) -> str:
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": f"CA{n:032d}",
        "From": "+14155559999",
        "To": "+14155550101",
        "CallStatus": "ringing",
    }
    return await twilio_posts(server, "/telephony/twilio/voice/", params)


async def test_the_demo_server_admits_exactly_the_tenants_cap(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceapp.settings",
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        REDIS_URL="",
        PUBLIC_BASE_URL=PUBLIC,
        ALLOWED_HOSTS="localhost,127.0.0.1",
        PRELOAD_SPEECH_MODELS="false",
        LOG_LEVEL="warning",
    )
    seeded = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", SEED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    with start_server(env, models=False) as (_, server):
        answers = await asyncio.gather(*(ring(server, n) for n in range(8)))
        admitted = [n for n, body in enumerate(answers) if "<Connect>" in body]
        assert len(admitted) == 2
        assert sum("all our lines are busy" in body for body in answers) == 6, answers
        assert "all our lines are busy" in await ring(server, 100)
        # One admitted caller hangs up before the stream opened: Twilio's status callback.
        ended = {
            "AccountSid": ACCOUNT,
            "CallSid": f"CA{admitted[0]:032d}",
            "CallStatus": "completed",
        }
        await twilio_posts(server, "/telephony/twilio/status/", ended)
        assert "<Connect>" in await ring(server, 101)
        assert "all our lines are busy" in await ring(server, 102)
