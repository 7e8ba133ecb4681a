"""The scheduler pass and the dial job: caps, windows, do-not-call, claims and dials once."""

from __future__ import annotations

import datetime
import threading

import django_rq
import pytest
from django.db import connection
from django.utils import timezone

from calls.models import Call, CallStatus
from campaigns.actions import pause_campaign, start_campaign
from campaigns.dialer import dial_attempt, dial_job_id, schedule_pass
from campaigns.models import (
    Attempt,
    AttemptResult,
    AttemptStatus,
    CallingWindow,
    DoNotCall,
    TenantDialing,
)
from campaigns.tests.dialer_world import make_campaign


def statuses(campaign) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in campaign.attempts.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def run_pass(capture) -> list[int]:
    with capture(execute=True):
        return schedule_pass().claimed


@pytest.mark.django_db
def test_a_pass_claims_up_to_the_campaign_cap_and_queues_one_job_per_attempt(
    world_a, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=5, max_concurrent_calls=2)
    start_campaign(campaign.pk, by="test")
    claimed = run_pass(django_capture_on_commit_callbacks)
    assert len(claimed) == 2
    queue = django_rq.get_queue("telephony")
    for pk in claimed:
        attempt = Attempt.objects.get(pk=pk)
        job = queue.fetch_job(dial_job_id(pk, attempt.claimed_at))
        assert job.id.startswith(f"attempt-{pk}-")
        assert job.func is dial_attempt and job.args == (pk,)
        job.delete()
    assert run_pass(django_capture_on_commit_callbacks) == []  # both slots still in flight
    assert statuses(campaign) == {"claimed": 2, "scheduled": 3}


@pytest.mark.django_db
def test_the_tenant_cap_spans_its_campaigns_and_defaults_to_five(
    world_a, django_capture_on_commit_callbacks
):
    one = make_campaign(world_a, contacts=8, name="One", max_concurrent_calls=4)
    two = make_campaign(world_a, contacts=8, name="Two", max_concurrent_calls=4)
    for c in (one, two):
        start_campaign(c.pk, by="test")
    assert len(run_pass(django_capture_on_commit_callbacks)) == 5  # no TenantDialing: 5
    TenantDialing.objects.create(tenant=world_a.tenant, max_concurrent_calls=6)
    assert len(run_pass(django_capture_on_commit_callbacks)) == 1
    assert run_pass(django_capture_on_commit_callbacks) == []
    in_flight = Attempt.objects.filter(status=AttemptStatus.CLAIMED).count()
    assert in_flight == 6
    assert max(statuses(one).get("claimed", 0), statuses(two).get("claimed", 0)) <= 4


@pytest.mark.django_db
def test_do_not_call_and_opted_out_numbers_are_skipped_never_dialled(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=4, max_concurrent_calls=4)
    a, b, c, d = campaign.contact_list.contacts.order_by("pk")
    DoNotCall.objects.create(tenant=world_a.tenant, phone=a.phone)
    DoNotCall.objects.create(tenant=None, phone=b.phone)  # the global list
    c.opted_out = True
    c.save()
    start_campaign(campaign.pk, by="test")
    claimed = run_pass(django_capture_on_commit_callbacks)
    assert [Attempt.objects.get(pk=pk).contact_id for pk in claimed] == [d.pk]
    skipped = campaign.attempts.filter(status=AttemptStatus.SKIPPED)
    assert {x.contact_id for x in skipped} == {a.pk, b.pk, c.pk}
    assert {x.result for x in skipped} == {AttemptResult.DO_NOT_CALL}
    # Put on the list after the claim: the dial job does not dial either.
    DoNotCall.objects.create(tenant=world_a.tenant, phone=d.phone)
    with django_capture_on_commit_callbacks(execute=True):
        dial_attempt(claimed[0])
    assert carrier.dials == []
    assert Attempt.objects.get(pk=claimed[0]).result == AttemptResult.DO_NOT_CALL


@pytest.mark.django_db
def test_an_attempt_outside_its_window_waits_for_the_next_opening(
    world_a, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1)
    contact = campaign.contact_list.contacts.get()
    contact.time_zone = "UTC"
    contact.save()
    now = timezone.now()
    # A one-hour window every day, starting at the next whole hour (or 8:00 when that is
    # outside the 8-21 floor): now is outside it.
    hour = now.hour + 1 if 8 <= now.hour + 1 <= 20 else 8
    for weekday in range(7):
        CallingWindow.objects.create(
            campaign=campaign,
            weekday=weekday,
            starts=datetime.time(hour),
            ends=datetime.time(hour + 1),
        )
    start_campaign(campaign.pk, by="test")
    assert run_pass(django_capture_on_commit_callbacks) == []
    attempt = campaign.attempts.get()
    assert attempt.status == AttemptStatus.SCHEDULED
    due = attempt.due_at.astimezone(datetime.UTC)
    assert now < due <= now + datetime.timedelta(days=1) and (due.hour, due.minute) == (hour, 0)


@pytest.mark.django_db
def test_the_dial_job_opens_the_call_with_the_contacts_variables_and_dials_once(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1, ring_seconds=20, machine_policy="hang_up")
    contact = campaign.contact_list.contacts.get()
    contact.variables = {"appointment": "Tuesday"}
    contact.save()
    start_campaign(campaign.pk, by="test")
    (pk,) = run_pass(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        dial_attempt(pk)
        dial_attempt(pk)  # the job ran twice
    assert len(carrier.dials) == 1
    (form,) = carrier.dials
    assert form["To"] == [contact.phone] and form["From"] == [world_a.number.number]
    assert form["Timeout"] == ["20"] and form["MachineDetection"] == ["Enable"]
    attempt = Attempt.objects.select_related("call").get(pk=pk)
    assert attempt.status == AttemptStatus.DIALING and attempt.call.status == CallStatus.INITIATED
    assert attempt.call.variables == {
        "appointment": "Tuesday",
        "first_name": "Person0",
        "disclosure": "This is an automated assistant calling for Shop A.",
        "voicemail": "",
    }


@pytest.mark.django_db
def test_a_paused_campaign_dials_nothing_and_its_claimed_attempt_waits(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=3)
    start_campaign(campaign.pk, by="test")
    claimed = run_pass(django_capture_on_commit_callbacks)
    pause_campaign(campaign.pk, by="test")
    assert run_pass(django_capture_on_commit_callbacks) == []
    dial_attempt(claimed[0])
    assert carrier.dials == [] and not Call.objects.filter(direction="outbound").exists()
    assert Attempt.objects.get(pk=claimed[0]).status == AttemptStatus.SCHEDULED


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_over_the_same_attempts_dial_each_once(world_a, carrier, settings):
    settings.REDIS_URL = ""  # no rq: each worker below runs the jobs itself
    campaign = make_campaign(world_a, contacts=30, max_concurrent_calls=30)
    TenantDialing.objects.create(tenant=world_a.tenant, max_concurrent_calls=30)
    start_campaign(campaign.pk, by="test")
    ids = list(campaign.attempts.values_list("pk", flat=True))
    # Both claim and both run every attempt's job: only conditional updates stand between
    # them and a double dial.
    Attempt.objects.filter(pk__in=ids).update(status=AttemptStatus.CLAIMED)
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            for pk in ids:
                dial_attempt(pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    dialled = carrier.dialled()
    assert len(dialled) == 30 and set(dialled.values()) == {1}
    assert Call.objects.filter(direction="outbound").count() == 30


@pytest.mark.django_db(transaction=True)
def test_two_scheduler_passes_at_once_never_exceed_the_cap(world_a, settings, monkeypatch):
    monkeypatch.setattr("campaigns.dialer.enqueue_each", lambda *a, **kw: None)
    campaign = make_campaign(world_a, contacts=20, max_concurrent_calls=7)
    TenantDialing.objects.create(tenant=world_a.tenant, max_concurrent_calls=10)
    start_campaign(campaign.pk, by="test")
    barrier = threading.Barrier(2)
    claimed: list[int] = []

    def scheduler():
        try:
            barrier.wait()
            for _ in range(3):
                claimed.extend(schedule_pass().claimed)
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(claimed) == len(set(claimed)) == 7
    assert campaign.attempts.filter(status=AttemptStatus.CLAIMED).count() == 7


@pytest.mark.django_db
def test_a_pass_visits_each_tenant_once_however_many_attempts_are_due(
    world_a, world_b, monkeypatch
):
    from campaigns import dialer

    for world in (world_a, world_b):
        start_campaign(make_campaign(world, contacts=4).pk, by="test")
    visits: list[int] = []
    real = dialer._schedule_tenant
    monkeypatch.setattr(
        dialer, "_schedule_tenant", lambda tid, *a: (visits.append(tid), real(tid, *a))
    )
    monkeypatch.setattr(dialer, "enqueue_each", lambda *a, **kw: None)
    assert len(schedule_pass().claimed) == 4  # each campaign's cap: 2
    assert sorted(visits) == sorted([world_a.tenant.pk, world_b.tenant.pk])


@pytest.mark.django_db
def test_the_text_before_reaches_twilio_before_the_call_and_only_on_the_first_attempt(
    world_a,
    twilio_rest,
    settings,
    django_capture_on_commit_callbacks,
):
    from telephony.models import Text
    from telephony.tests.fake_twilio import FakeTwilioRest

    settings.TWILIO_API_BASE_URL = twilio_rest
    FakeTwilioRest.requests.clear()
    campaign = make_campaign(world_a, contacts=1, text_before="Hi {first_name}, we'll call soon.")
    start_campaign(campaign.pk, by="test")
    (pk,) = run_pass(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        dial_attempt(pk)
    paths = [path.rsplit("/", 1)[-1] for path, _ in FakeTwilioRest.requests]
    assert paths == ["Messages.json", "Calls.json"]  # texted, then dialled
    (text,) = Text.objects.all()
    assert text.body == "Hi Person0, we'll call soon." and text.key == f"attempt-{pk}-before"
    assert Attempt.objects.get(pk=pk).text_sent
    # A retry of the same contact is not texted again.
    retry = Attempt.objects.create(
        campaign=campaign, contact=text_contact(campaign), number=2, status="claimed"
    )
    FakeTwilioRest.replies.append((201, {"sid": "CA" + "7" * 32, "status": "queued"}))
    with django_capture_on_commit_callbacks(execute=True):
        dial_attempt(retry.pk)
    assert FakeTwilioRest.requests[-1][0].endswith("/Calls.json")  # dialled, not texted
    assert Text.objects.count() == 1


def text_contact(campaign):
    return campaign.contact_list.contacts.get()
