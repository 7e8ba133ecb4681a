from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model

from health.tests.fake_providers import KEYS, FakeProviders, serving
from voiceapp.models import Membership


@pytest.fixture
def providers(settings, db):
    """Every platform provider configured, pointed at the local fake with the right keys."""
    with serving() as url:
        settings.DEEPGRAM_API_KEY = KEYS["deepgram"]
        settings.DEEPGRAM_REST_URL = url
        settings.ELEVENLABS_API_KEY = KEYS["elevenlabs"]
        settings.ELEVENLABS_BASE_URL = url
        settings.GROQ_API_KEY = KEYS["groq"]
        settings.GROQ_BASE_URL = url
        settings.OPENAI_API_KEY = KEYS["openai"]
        settings.OPENAI_BASE_URL = f"{url}/v1"
        settings.TWILIO_API_BASE_URL = url
        settings.HEALTH_CHECK_TIMEOUT_SECONDS = 2
        yield FakeProviders


@pytest.fixture
def no_platform_keys(settings):
    for name in ("DEEPGRAM_API_KEY", "ELEVENLABS_API_KEY", "GROQ_API_KEY", "OPENAI_API_KEY"):
        setattr(settings, name, "")
    settings.OPENAI_BASE_URL = ""


@pytest.fixture
def twilio_up(providers, world_a, world_b):
    """Both tenants' Twilio accounts known to the fake with their real tokens."""
    for world in (world_a, world_b):
        providers.twilio_tokens[world.account.account_sid] = world.account.auth_token
    return providers


@pytest.fixture
def people(world_a, world_b):
    """Emails for both tenants' owners, a staff member of A, and a superuser."""
    users = get_user_model().objects
    for world, email in ((world_a, "owner-a@example.com"), (world_b, "owner-b@example.com")):
        world.staff.email = email
        world.staff.save(update_fields=["email"])
    member = users.create_user("member_a", email="member-a@example.com", is_staff=True)
    Membership.objects.create(user=member, tenant=world_a.tenant, role=Membership.Role.STAFF)
    root = users.create_superuser("root", email="root@example.com", password="pw-for-tests")
    return {"owner_a": world_a.staff, "owner_b": world_b.staff, "member_a": member, "root": root}


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung provider)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()
