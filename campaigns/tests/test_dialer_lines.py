"""The dialer and the tenant's lines (calls.admission): while every line is busy an attempt is
not dialled and not used up, it waits and is dialled once a line is free; the line its call
takes is given back when the call ends."""

from __future__ import annotations

import pytest

from calls import lines
from calls.actions import finish_call
from calls.models import Call, CallStatus
from calls.tests.line_stores import refused
from campaigns.actions import start_campaign
from campaigns.dialer import dial_attempt, schedule_pass
from campaigns.models import Attempt, AttemptStatus
from campaigns.tests.dialer_world import make_campaign, twilio_says
from telephony.jobs import dial_call
from telephony.outbound import place_call

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The attempts the passes queue dial jobs for (the test runs each job itself)."""
    jobs: list[int] = []
    monkeypatch.setattr(
        "campaigns.dialer.enqueue_each",
        lambda func, arguments, **kw: jobs.extend(args[0] for args in arguments),
    )
    return jobs


def inbound_caller(world) -> Call:
    """A caller on the line: an admitted inbound call, in progress."""
    call = Call.objects.create(
        tenant=world.tenant,
        agent=world.agent,
        direction=Call.Direction.INBOUND,
        from_number="+14155558888",
        to_number=world.number.number,
        twilio_call_sid="CA" + "7" * 32,
        twilio_account_sid=world.account.account_sid,
        status=CallStatus.RINGING,
    )
    assert lines.take(call, world.tenant.max_concurrent_calls)
    return call


def run_pass(capture) -> list[int]:
    with capture(execute=True):
        return schedule_pass().claimed


def test_an_attempt_waits_while_every_line_is_busy_then_is_dialled(
    world_a, carrier, line_store, queued, client, django_capture_on_commit_callbacks
):
    world_a.tenant.max_concurrent_calls = 1
    world_a.tenant.save()
    caller = inbound_caller(world_a)
    campaign = make_campaign(world_a, contacts=2, max_concurrent_calls=5)
    start_campaign(campaign.pk, by="test")
    attempts = list(campaign.attempts.order_by("pk"))

    # The line is taken by the caller: the pass claims nothing.
    assert run_pass(django_capture_on_commit_callbacks) == []
    # An attempt claimed just before the line was taken (a pass racing the webhook): its job
    # dials nothing, uses nothing up, and gives the claim back.
    before = refused("tenant_cap", "dialer")
    Attempt.objects.filter(pk=attempts[0].pk).update(status=AttemptStatus.CLAIMED)
    with django_capture_on_commit_callbacks(execute=True):
        dial_attempt(attempts[0].pk)
    waiting = Attempt.objects.get(pk=attempts[0].pk)
    assert waiting.status == AttemptStatus.SCHEDULED and waiting.claimed_at is None
    assert waiting.call is None and waiting.number == 1 and waiting.result == ""
    assert waiting.due_at == attempts[0].due_at  # still due: the next pass takes it
    assert campaign.attempts.count() == 2
    assert carrier.dials == [] and not Call.objects.filter(direction="outbound").exists()
    assert refused("tenant_cap", "dialer") == before + 1

    # The caller hangs up: the next pass dials one attempt (one line).
    with django_capture_on_commit_callbacks(execute=True):
        finish_call(caller.pk, outcome="caller_hung_up", source="test")
    claimed = run_pass(django_capture_on_commit_callbacks)
    assert len(claimed) == 1 and queued == claimed
    with django_capture_on_commit_callbacks(execute=True):
        dial_attempt(claimed[0])
    dialled = Attempt.objects.select_related("call").get(pk=claimed[0])
    assert dialled.status == AttemptStatus.DIALING and dialled.call.admitted_at
    assert dialled.call.status == CallStatus.INITIATED and len(carrier.dials) == 1
    assert lines.held(world_a.tenant.pk) == 1

    # Its call holds the line until it ends (no answer here); then the other attempt goes.
    assert run_pass(django_capture_on_commit_callbacks) == []
    with django_capture_on_commit_callbacks(execute=True):
        twilio_says(client, world_a, dialled.call, CallStatus="no-answer")
    assert lines.held(world_a.tenant.pk) == 0
    claimed = run_pass(django_capture_on_commit_callbacks)
    assert len(claimed) == 1 and claimed[0] != dialled.pk
    with django_capture_on_commit_callbacks(execute=True):
        dial_attempt(claimed[0])
    assert len(carrier.dials) == 2


def test_a_call_placed_on_its_own_over_the_cap_is_refused_saying_why(
    world_a, carrier, line_store, django_capture_on_commit_callbacks
):
    """Outside a campaign (the API, the admin) nobody would dial it later: it ends at once as
    "lines_busy", not dialled, so whoever placed it sees why."""
    world_a.tenant.max_concurrent_calls = 1
    world_a.tenant.save()
    inbound_caller(world_a)
    call = place_call(
        agent=world_a.agent, to_number="+12015550123", from_number=world_a.number.number
    )
    before = refused("tenant_cap", "dial")
    with django_capture_on_commit_callbacks(execute=True):
        dial_call(call.pk)
    call.refresh_from_db()
    assert call.status == CallStatus.FAILED and call.outcome == "lines_busy"
    assert carrier.dials == [] and call.admitted_at is None
    assert refused("tenant_cap", "dial") == before + 1
