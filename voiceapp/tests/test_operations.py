"""Secrets at rest, JSON logs, and the demo seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from calls.models import Agent
from telephony.models import PhoneNumber, TwilioAccount
from voiceapp.models import Membership, Tenant

ROOT = Path(__file__).resolve().parents[2]


def test_auth_token_is_encrypted_at_rest(world_a):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT auth_token FROM telephony_twilioaccount WHERE id = %s", [world_a.account.pk]
        )
        stored = cursor.fetchone()[0]
    assert "token-a" not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert TwilioAccount.objects.get(pk=world_a.account.pk).auth_token == "token-a"


def test_rotated_key_still_decrypts_old_secrets(world_a, settings):
    from voiceapp import crypto

    new_key = "bmV3LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzLWxvbmc="
    settings.ENCRYPTION_KEYS = [new_key, *settings.ENCRYPTION_KEYS]
    crypto._fernet.cache_clear()
    try:
        assert TwilioAccount.objects.get(pk=world_a.account.pk).auth_token == "token-a"
    finally:
        crypto._fernet.cache_clear()


def test_json_logs_are_one_object_a_line():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voiceapp.test_settings", "LOG_FORMAT": "json"}
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('calls').warning('hello', extra={'call_id': 7})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello" and line["level"] == "WARNING" and line["call_id"] == 7


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_the_login():
    out = StringIO()
    call_command("seed_demo", "--password", "demo-pass-1", stdout=out)
    call_command("seed_demo", "--password", "demo-pass-1", stdout=out)
    assert Tenant.objects.count() == 1 and Membership.objects.count() == 1
    # the front desk (offline, cloud), the boba orders agent, the reminder and morning
    # callers (campaigns.demo); the shop and boba lines
    assert Agent.objects.count() == 5 and PhoneNumber.objects.count() == 2
    assert "demo / demo-pass-1" in out.getvalue()
    from django.contrib.auth import authenticate

    assert authenticate(username="demo", password="demo-pass-1") is not None
