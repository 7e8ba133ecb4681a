"""Shared fixtures: two tenants with their staff, and an outsider."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from calls.models import Agent, Call, CallStatus
from telephony.models import PhoneNumber, TwilioAccount
from voiceapp.models import Membership, Tenant


@dataclass
class World:
    tenant: Tenant
    staff: object
    account: TwilioAccount
    number: PhoneNumber
    agent: Agent
    call: Call
    turn: object = None
    event: object = None


def _world(slug: str, n: int) -> World:
    tenant = Tenant.objects.create(
        name=f"Shop {slug.upper()}", slug=slug, time_zone="Europe/London"
    )
    staff = get_user_model().objects.create_user(
        f"staff_{slug}", password="pw-for-tests", is_staff=True
    )
    Membership.objects.create(user=staff, tenant=tenant, role=Membership.Role.OWNER)
    account = TwilioAccount.objects.create(
        tenant=tenant,
        name=f"Account {slug}",
        account_sid="AC" + f"{n}" * 32,
        auth_token=f"token-{slug}",
    )
    agent = Agent.objects.create(tenant=tenant, name=f"Agent {slug}", knowledge="hours: 9 to 5")
    number = PhoneNumber.objects.create(
        tenant=tenant,
        account=account,
        number=f"+1415555010{n}",
        agent=agent,
        friendly_name=f"Line {slug}",
    )
    call = Call.objects.create(
        tenant=tenant,
        agent=agent,
        direction=Call.Direction.INBOUND,
        from_number="+14155559999",
        to_number=number.number,
        twilio_call_sid="CA" + f"{n}" * 32,
        twilio_account_sid=account.account_sid,
        status=CallStatus.RINGING,
    )
    from django.utils import timezone

    from calls.models import CallEvent, Turn

    turn = Turn.objects.create(
        call=call,
        index=0,
        speaker="agent",
        text=f"Hello from shop {slug}",
        started_at=timezone.now(),
    )
    event = CallEvent.objects.create(call=call, kind="dtmf", data={"digit": str(n)})
    return World(tenant, staff, account, number, agent, call, turn, event)


@pytest.fixture
def world_a(db) -> World:
    return _world("a", 1)


@pytest.fixture
def world_b(db) -> World:
    return _world("b", 2)


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("outsider", password="pw-for-tests", is_staff=True)


@pytest.fixture(params=["redis", "database"])
def line_store(request, settings) -> str:
    """Each test that asks for it runs twice: with a tenant's lines (calls.lines) in Redis, as
    deployed, and in the database, the embedded default with no Redis."""
    if request.param == "database":
        settings.REDIS_URL = ""
    else:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("voiceapp:lines:*"):
            client.delete(key)
    return request.param


@pytest.fixture(scope="session", autouse=True)
def _isolated_services(django_db_setup, django_db_blocker):
    """A clean Redis test database per run; and at the end, no stray connection (a thread of an
    async test, a Daphne subprocess) left to block dropping the test database."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    yield
    from django.db import connection

    if not connection.settings_dict["NAME"].startswith("test_"):
        return  # the test database is already gone
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
