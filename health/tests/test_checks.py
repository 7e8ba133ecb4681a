"""Each provider's check is one authenticated request through its SDK, against a local fake."""

from __future__ import annotations

import time

import pytest

from health import checks
from telephony.models import TwilioAccount

PLATFORM = ["deepgram", "elevenlabs", "groq", "openai"]


def target(key: str) -> checks.Target:
    (found,) = [t for t in checks.configured_targets() if t.key == key]
    return found


@pytest.mark.parametrize("key", PLATFORM)
def test_a_platform_provider_with_a_good_key_is_ok(providers, key):
    result = checks.probe(target(key), 2)
    assert result.ok, result.error
    assert result.error == "" and result.latency_ms >= 0
    assert [p for p, _ in providers.requests] == [key]  # exactly one request, to that provider


@pytest.mark.parametrize("key", PLATFORM)
def test_a_refused_key_fails_with_the_providers_answer(providers, settings, key):
    setattr(settings, f"{key.upper()}_API_KEY", "wrong")
    result = checks.probe(target(key), 2)
    assert not result.ok
    assert "401" in result.error


@pytest.mark.parametrize("key", PLATFORM)
def test_a_provider_that_is_down_fails(providers, key):
    providers.down.add(key)
    result = checks.probe(target(key), 2)
    assert not result.ok and "503" in result.error
    assert len(providers.requests) == 1  # no SDK retries: the check measures the provider


def test_a_twilio_account_is_fetched_with_its_own_credentials(twilio_up, world_a):
    ok = checks.probe(target(f"twilio:{world_a.account.account_sid}"), 2)
    assert ok.ok, ok.error
    assert twilio_up.requests == [
        ("twilio", f"/2010-04-01/Accounts/{world_a.account.account_sid}.json")
    ]
    TwilioAccount.objects.filter(pk=world_a.account.pk).update(auth_token="revoked")
    refused = checks.probe(target(f"twilio:{world_a.account.account_sid}"), 2)
    assert not refused.ok and "401" in refused.error


def test_what_is_configured(providers, settings, world_a, world_b):
    keys = {t.key for t in checks.configured_targets()}
    assert keys == set(PLATFORM) | {
        f"twilio:{world_a.account.account_sid}",
        f"twilio:{world_b.account.account_sid}",
    }
    twilio = target(f"twilio:{world_a.account.account_sid}")
    assert twilio.tenant_id == world_a.tenant.pk and twilio.twilio_account_id == world_a.account.pk
    assert target("groq").tenant_id is None

    settings.DEEPGRAM_API_KEY = settings.GROQ_API_KEY = ""
    settings.OPENAI_API_KEY = ""  # an OpenAI-compatible endpoint with no key (Ollama) still counts
    world_b.tenant.active = False
    world_b.tenant.save()
    keys = {t.key for t in checks.configured_targets()}
    assert keys == {"elevenlabs", "openai", f"twilio:{world_a.account.account_sid}"}


def test_a_hung_provider_fails_within_the_timeout(providers, settings, silent_port):
    settings.GROQ_BASE_URL = f"http://127.0.0.1:{silent_port}"
    started = time.monotonic()
    results = checks.probe_all([target("groq"), target("deepgram")], 1)
    assert time.monotonic() - started < 5
    by_key = {r.target.key: r for r in results}
    assert not by_key["groq"].ok and "Timeout" in by_key["groq"].error
    assert by_key["deepgram"].ok  # probed alongside, not held up


def test_the_demos_twilio_sandbox_answers_the_check(db, settings, world_a):
    from telephony.sandbox import Sandbox

    sandbox = Sandbox(
        server="http://127.0.0.1:1",
        public_base_url="http://127.0.0.1:1",
        tokens={world_a.account.account_sid: world_a.account.auth_token},
    )
    settings.TWILIO_API_BASE_URL = sandbox.start()
    try:
        result = checks.probe(target(f"twilio:{world_a.account.account_sid}"), 2)
        assert result.ok, result.error
    finally:
        sandbox.stop()
