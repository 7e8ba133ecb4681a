"""The dialer and the tenant's lines (calls.admission): while every line is busy an attempt is
not dialled and not used up, it waits and is dialled once a line is free; the line its call
takes is given back when the call ends."""

from __future__ import annotations

import pytest

from calls import admission, lines
from calls.actions import finish_call
from calls.models import Call, CallStatus
from calls.tests.line_stores import refused
from campaigns.actions import start_campaign
from campaigns.dialer import dial_attempt, schedule_pass
from campaigns.models import Attempt, AttemptResult, AttemptStatus
from campaigns.tests.dialer_world import dialled_attempt, make_campaign, twilio_says
from telephony.jobs import dial_call, say_lines_busy
from telephony.outbound import place_call
from telephony.tests.fake_twilio import FakeTwilioRest
from telephony.twiml import LINES_BUSY_OUTBOUND_MESSAGE

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


def test_a_campaign_call_refused_by_a_full_server_is_retried_as_a_busy_line(
    world_a, carrier, twilio_rest, settings, django_capture_on_commit_callbacks
):
    """The callee answered, but the stream reached a server at its cap: they hear a short
    apology (not "call again": we called them) and the attempt is retried as a busy line."""
    campaign = make_campaign(world_a, contacts=1, max_attempts=2, retry_busy_minutes=15)
    attempt = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
    call = attempt.call
    with django_capture_on_commit_callbacks(execute=True):
        Call.objects.filter(pk=call.pk).update(stream_sid="MZ" + "4" * 32)
        call.apply_status(CallStatus.IN_PROGRESS, source="test")
        admission.refuse(call.pk, reason=admission.PROCESS_CAP, cap=1)
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.DONE and attempt.result == AttemptResult.BUSY
    following = campaign.attempts.get(number=2)
    assert following.status == AttemptStatus.SCHEDULED

    settings.TWILIO_API_BASE_URL = twilio_rest
    FakeTwilioRest.requests.clear()
    say_lines_busy(call.pk)
    ((path, form),) = FakeTwilioRest.requests
    assert path.endswith(f"/Calls/{call.twilio_call_sid}.json")
    assert LINES_BUSY_OUTBOUND_MESSAGE in form["Twiml"][0] and "call again" not in form["Twiml"][0]
