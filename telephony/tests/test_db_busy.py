"""A burst of calls can keep every pooled connection lent out for a moment past DATABASE_TIMEOUT.
The voice webhook then waits for one (the caller is ringing, Twilio waits 15 s) instead of
turning the caller away; a webhook Twilio retries answers 503 at once; an outage is not waited
for (test_db_outage)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from django.db.backends.postgresql.base import DatabaseWrapper

from calls.models import Call
from telephony.tests.test_webhooks import signed_post, voice_params

pytestmark = pytest.mark.django_db(transaction=True)

HELD_FOR = 1.2  # longer than the pool's wait (0.3 s) several times over


@pytest.fixture
def full_pool(django_db_blocker):
    """This thread's default database: the test database through a pool of one connection that
    waits 0.3 s for it; the connection is lent out for HELD_FOR seconds, then given back."""
    real = connections["default"]
    settings_dict = {
        **real.settings_dict,
        "OPTIONS": {
            **real.settings_dict["OPTIONS"],
            "pool": {"min_size": 1, "max_size": 1, "timeout": 0.3},
        },
    }
    wrapper = DatabaseWrapper(settings_dict, alias="one_connection")
    connections["default"] = wrapper
    try:
        with django_db_blocker.unblock():
            wrapper.pool.open(wait=True)
            held = wrapper.pool.getconn()
            giving_back = threading.Timer(HELD_FOR, wrapper.pool.putconn, [held])
            giving_back.start()
            yield wrapper
            giving_back.join()
    finally:
        connections["default"] = real
        wrapper.close()
        wrapper.close_pool()


def test_the_voice_webhook_waits_for_a_busy_database_and_answers_the_call(
    client, world_a, full_pool, caplog
):
    params = voice_params(world_a, call_sid="CA" + "5" * 32)
    started = time.monotonic()
    response = signed_post(client, "/telephony/twilio/voice/", params, "token-a")
    elapsed = time.monotonic() - started
    body = response.content.decode()
    assert response.status_code == 200 and "<Connect>" in body, body
    assert HELD_FOR - 0.2 <= elapsed < HELD_FOR + 2, elapsed
    assert Call.objects.filter(twilio_call_sid=params["CallSid"]).count() == 1
    assert "database busy" in caplog.text


def test_a_webhook_twilio_retries_does_not_wait(client, world_a, full_pool):
    params = {**voice_params(world_a, call_sid=world_a.call.twilio_call_sid)}
    params["CallStatus"] = "completed"
    started = time.monotonic()
    response = signed_post(client, "/telephony/twilio/status/", params, "token-a")
    assert response.status_code == 503
    assert time.monotonic() - started < HELD_FOR - 0.3
