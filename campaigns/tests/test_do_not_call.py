"""Do-not-call is enforced on every dial: a number on the tenant's list, on the global list, or
of an opted-out contact of the tenant is never sent to Twilio, whichever path dials; the
dialer's cheap questions (is_callable, uncallable) agree; lists are added to once."""

from __future__ import annotations

import django_rq
import pytest
from rq import SimpleWorker

from calls.models import Call, CallStatus
from campaigns import do_not_call
from campaigns.do_not_call import add_number, blocked_reason, is_callable, uncallable
from campaigns.models import Contact, DoNotCall
from telephony import dialing
from telephony.jobs import dial_call
from telephony.outbound import place_call
from telephony.tests.fake_twilio import FakeTwilioRest, serving

pytestmark = pytest.mark.django_db

CALLEE = "+14155550177"
OTHER = "+14155550178"


@pytest.fixture(scope="module")
def fake_twilio():
    with serving() as url:
        yield url


@pytest.fixture
def rest(settings, fake_twilio):
    settings.TWILIO_API_BASE_URL = fake_twilio
    FakeTwilioRest.requests.clear()
    django_rq.get_queue("telephony").empty()
    return FakeTwilioRest.requests


def dialled(requests) -> list[str]:
    return [body["To"][0] for path, body in requests if path.endswith("/Calls.json")]


def place(world, to=CALLEE) -> Call:
    return place_call(
        agent=world.agent, to_number=to, from_number=world.number.number, variables={}
    )


def run_dial_jobs() -> None:
    """What an rq worker does with the queued dial jobs, in this process and transaction."""
    queue = django_rq.get_queue("telephony")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_the_check_is_registered_when_the_app_is_ready():
    assert do_not_call.honour_do_not_call in dialing._checks


@pytest.mark.parametrize(
    "listed_by, reason",
    [
        ("tenant", "on the tenant's do-not-call list"),
        ("global", "on the global do-not-call list"),
        ("opted_out", "the contact opted out"),
    ],
)
def test_a_listed_number_is_never_sent_to_twilio_by_the_queued_dial_job(
    world_a, rest, django_capture_on_commit_callbacks, listed_by, reason
):
    if listed_by == "opted_out":
        Contact.objects.create(tenant=world_a.tenant, phone=CALLEE, opted_out=True)
    else:
        DoNotCall.objects.create(
            tenant=world_a.tenant if listed_by == "tenant" else None, phone=CALLEE
        )
    with django_capture_on_commit_callbacks(execute=True):
        refused = place(world_a)
        allowed = place(world_a, to=OTHER)
    run_dial_jobs()
    assert dialled(rest) == [OTHER]  # only the number nobody listed reached Twilio
    refused.refresh_from_db()
    assert refused.status == CallStatus.FAILED and refused.outcome == "do_not_call"
    assert refused.events.get(kind="ended").data["reason"] == reason
    allowed.refresh_from_db()
    assert allowed.status == CallStatus.INITIATED


def test_the_dial_job_run_directly_is_refused_too(world_a, rest):
    DoNotCall.objects.create(tenant=None, phone=CALLEE)
    call = place(world_a)
    dial_call(call.pk)
    dial_call(call.pk)
    assert dialled(rest) == []
    call.refresh_from_db()
    assert call.outcome == "do_not_call"


def test_a_number_listed_after_the_call_was_queued_is_still_not_dialled(world_a, rest):
    call = place(world_a)  # queued while the number was callable
    add_number(world_a.tenant.pk, CALLEE, source=DoNotCall.Source.API)
    dial_call(call.pk)
    assert dialled(rest) == []


def test_another_tenants_list_and_contacts_do_not_block(world_a, world_b, rest):
    DoNotCall.objects.create(tenant=world_b.tenant, phone=CALLEE)
    Contact.objects.create(tenant=world_b.tenant, phone=CALLEE, opted_out=True)
    Contact.objects.create(tenant=world_a.tenant, phone=CALLEE, opted_out=False)
    dial_call(place(world_a).pk)
    assert dialled(rest) == [CALLEE]


def test_the_dialers_questions(world_a, world_b):
    DoNotCall.objects.create(tenant=world_a.tenant, phone="+14155550001")
    DoNotCall.objects.create(tenant=None, phone="+14155550002")
    Contact.objects.create(tenant=world_a.tenant, phone="+14155550003", opted_out=True)
    DoNotCall.objects.create(tenant=world_b.tenant, phone="+14155550004")
    phones = [f"+1415555000{i}" for i in range(1, 6)]
    assert uncallable(world_a.tenant.pk, phones) == {
        "+14155550001",
        "+14155550002",
        "+14155550003",
    }
    assert uncallable(world_b.tenant.pk, phones) == {"+14155550002", "+14155550004"}
    assert uncallable(world_a.tenant.pk, []) == set()
    assert [is_callable(world_a.tenant.pk, p) for p in phones] == [False, False, False, True, True]
    assert blocked_reason(world_a.tenant.pk, "+14155550005") is None


def test_adding_a_number_once_marks_the_tenants_contact_opted_out(world_a, world_b):
    mine = Contact.objects.create(tenant=world_a.tenant, phone=CALLEE)
    theirs = Contact.objects.create(tenant=world_b.tenant, phone=CALLEE)
    entry, created = add_number(
        world_a.tenant.pk, CALLEE, source=DoNotCall.Source.CALL, call_id=world_a.call.pk
    )
    again, created_again = add_number(world_a.tenant.pk, CALLEE, source=DoNotCall.Source.ADMIN)
    assert created and not created_again and again.pk == entry.pk
    assert again.source == DoNotCall.Source.CALL and again.call_id == world_a.call.pk
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.opted_out and mine.opted_out_at is not None
    assert not theirs.opted_out
    assert DoNotCall.objects.count() == 1


def test_a_global_entry_leaves_contacts_as_they_are_but_blocks_every_tenant(world_a, world_b):
    contact = Contact.objects.create(tenant=world_a.tenant, phone=CALLEE)
    add_number(None, CALLEE, source=DoNotCall.Source.IMPORT)
    contact.refresh_from_db()
    assert not contact.opted_out
    assert not is_callable(world_a.tenant.pk, CALLEE) and not is_callable(world_b.tenant.pk, CALLEE)
