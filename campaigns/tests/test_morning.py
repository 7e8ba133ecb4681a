"""The morning call: planned once per contact per local day at the local time (across
daylight-saving changes, inside the 8:00 floor), texted before it is called, retried only that
morning, paused and resumed per contact."""

from __future__ import annotations

import datetime
import zoneinfo
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns import morning
from campaigns.actions import start_campaign
from campaigns.attempts import finish_attempt
from campaigns.dialer import dial_attempt, schedule_pass
from campaigns.models import (
    Attempt,
    AttemptResult,
    AttemptStatus,
    Campaign,
    Contact,
    DoNotCall,
    PausedContact,
)
from campaigns.tests.dialer_world import make_campaign
from telephony.models import Text, TextStatus
from telephony.texts import send_text

UTC = datetime.UTC
NY = zoneinfo.ZoneInfo("America/New_York")
LONDON = zoneinfo.ZoneInfo("Europe/London")
AFFIRMATIONS = "You are ready for today.\nSmall steps count.\nBe kind to yourself."


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def daily(world, at=datetime.time(8, 30), contacts=0, **fields) -> Campaign:
    campaign = make_campaign(
        world,
        contacts=contacts,
        name=fields.pop("name", "Mornings"),
        recurrence="daily",
        local_time=at,
        affirmations=AFFIRMATIONS,
        starts_at=utc(2026, 1, 1),
        **fields,
    )
    start_campaign(campaign.pk, by="test")
    campaign.refresh_from_db()
    return campaign


def add(campaign, phone: str, zone: str, name: str = "Ada Lovelace") -> Contact:
    contact = Contact.objects.create(tenant=campaign.tenant, phone=phone, name=name, time_zone=zone)
    campaign.contact_list.contacts.add(contact)
    return contact


def local(attempt: Attempt, zone) -> datetime.datetime:
    return attempt.due_at.astimezone(zone)


@pytest.mark.django_db
def test_planned_at_the_local_time_on_both_sides_of_each_daylight_saving_change(world_a):
    campaign = daily(world_a)
    ny = add(campaign, "+12125550101", "America/New_York")
    ldn = add(campaign, "+442079460101", "Europe/London", name="Bob Smith")
    # New York springs forward on Sunday 8 March 2026, London on Sunday 29 March.
    morning.plan_mornings(utc(2026, 3, 7, 12))
    morning.plan_mornings(utc(2026, 3, 28, 6))
    mornings = {
        (a.contact_id, a.day): a for a in Attempt.objects.filter(campaign=campaign, number=1)
    }
    before, after = (
        mornings[ny.pk, datetime.date(2026, 3, 7)],
        mornings[ny.pk, datetime.date(2026, 3, 8)],
    )
    assert before.due_at == utc(2026, 3, 7, 13, 30) and after.due_at == utc(2026, 3, 8, 12, 30)
    assert local(before, NY).time() == local(after, NY).time() == datetime.time(8, 30)
    # London at 12:00 UTC on the 7th is past its morning: the 7th is not planned, the 8th is.
    assert (ldn.pk, datetime.date(2026, 3, 7)) not in mornings
    assert mornings[ldn.pk, datetime.date(2026, 3, 8)].due_at == utc(2026, 3, 8, 8, 30)
    before, after = (
        mornings[ldn.pk, datetime.date(2026, 3, 28)],
        mornings[ldn.pk, datetime.date(2026, 3, 29)],
    )
    assert before.due_at == utc(2026, 3, 28, 8, 30) and after.due_at == utc(2026, 3, 29, 7, 30)
    assert local(before, LONDON).time() == local(after, LONDON).time() == datetime.time(8, 30)


@pytest.mark.django_db
def test_a_morning_before_eight_is_called_at_eight_and_the_admin_says_so(world_a):
    campaign = daily(world_a, at=datetime.time(7, 30))
    ny = add(campaign, "+12125550102", "America/New_York")
    morning.plan_mornings(utc(2026, 3, 7, 11))
    days = {a.day: a for a in Attempt.objects.filter(contact=ny)}
    for day in (datetime.date(2026, 3, 7), datetime.date(2026, 3, 8)):  # across the change
        assert local(days[day], NY).time() == datetime.time(8, 0)
    assert "at 8:00, not 07:30" in morning.clamp_warning(campaign)
    campaign.local_time = datetime.time(21, 15)
    assert "never call" in morning.clamp_warning(campaign)
    assert morning.plan_campaign(campaign, utc(2026, 3, 9, 11)) == 0
    campaign.local_time = datetime.time(9, 0)
    assert morning.clamp_warning(campaign) == ""


@pytest.mark.django_db
def test_the_planner_run_twice_plans_once_and_only_chosen_weekdays(world_a):
    campaign = daily(world_a, weekdays=[0, 1, 2, 3, 4])  # Monday to Friday
    add(campaign, "+12125550103", "America/New_York")
    add(campaign, "+442079460103", "Europe/London")
    friday = utc(2026, 3, 6, 5)  # Friday, before any morning: today and (not) Saturday
    assert morning.plan_mornings(friday).planned == 2
    assert morning.plan_mornings(friday).planned == 0
    sunday = utc(2026, 3, 8, 5)
    assert morning.plan_mornings(sunday).planned == 2  # Monday's, not Sunday's
    days = sorted({a.day for a in Attempt.objects.filter(campaign=campaign)})
    assert days == [datetime.date(2026, 3, 6), datetime.date(2026, 3, 9)]
    assert Attempt.objects.filter(campaign=campaign).count() == 4


def _text(attempt: Attempt) -> Text | None:
    return Text.objects.filter(key=f"attempt-{attempt.pk}-morning").first()


@pytest.mark.django_db
def test_the_text_is_handed_to_twilio_before_the_call_is_dialled(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = daily(world_a)
    contact = add(campaign, "+12125550104", "America/New_York")
    morning.plan_mornings(utc(2026, 3, 10, 11))
    attempt = Attempt.objects.get(contact=contact, day=datetime.date(2026, 3, 10))
    due = attempt.due_at  # 08:30 New York
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_pass(due - datetime.timedelta(minutes=3)).claimed == []
    assert _text(attempt) is None  # not yet: two minutes before
    with django_capture_on_commit_callbacks(execute=True):
        assert morning.send_due_texts(due - datetime.timedelta(minutes=1)) == 1
    import django_rq

    job = django_rq.get_queue("telephony").fetch_job(f"morning-text-{attempt.pk}")
    assert job is not None and job.args == (attempt.pk,)
    job.delete()
    with django_capture_on_commit_callbacks(execute=True):
        text = morning.send_morning_text(attempt.pk)
        morning.send_morning_text(attempt.pk)  # a job run twice texts once
    assert Text.objects.filter(key__endswith="-morning").count() == 1
    assert text.body.startswith("Good morning, Ada! ") and text.status == TextStatus.PENDING
    assert morning.affirmation_for(campaign, attempt.day) in text.body
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_pass(due).claimed == []  # due, but its text has not left
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED and text.twilio_sid
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_pass(due).claimed == [attempt.pk]
        dial_attempt(attempt.pk)
    attempt.refresh_from_db()
    assert attempt.call is not None and carrier.dialled()[contact.phone] == 1


@pytest.mark.django_db
def test_a_text_still_retrying_holds_the_call_only_so_long(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = daily(world_a)
    contact = add(campaign, "+12125550105", "America/New_York")
    morning.plan_mornings(utc(2026, 3, 10, 11))
    attempt = Attempt.objects.get(contact=contact, day=datetime.date(2026, 3, 10))
    with django_capture_on_commit_callbacks(execute=False):
        morning.send_morning_text(attempt.pk)  # written, never sent (pending)
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_pass(attempt.due_at + datetime.timedelta(minutes=4)).claimed == []
        late = attempt.due_at + morning.TEXT_PATIENCE
        assert schedule_pass(late).claimed == [attempt.pk]


@pytest.mark.django_db
def test_without_affirmations_the_text_is_skipped_with_the_reason_and_the_call_goes_ahead(
    world_a, django_capture_on_commit_callbacks
):
    campaign = daily(world_a)
    Campaign.objects.filter(pk=campaign.pk).update(affirmations="  \n")
    contact = add(campaign, "+12125550106", "America/New_York")
    morning.plan_mornings(utc(2026, 3, 10, 11))
    attempt = Attempt.objects.get(contact=contact, day=datetime.date(2026, 3, 10))
    text = morning.send_morning_text(attempt.pk)
    assert text.status == TextStatus.SKIPPED and "no affirmations" in text.last_error
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_pass(attempt.due_at).claimed == [attempt.pk]


@pytest.mark.django_db
def test_a_contact_put_on_do_not_call_is_neither_texted_nor_called(world_a):
    campaign = daily(world_a)
    contact = add(campaign, "+12125550107", "America/New_York")
    morning.plan_mornings(utc(2026, 3, 10, 11))
    attempt = Attempt.objects.get(contact=contact, day=datetime.date(2026, 3, 10))
    DoNotCall.objects.create(tenant=world_a.tenant, phone=contact.phone)
    assert morning.send_morning_text(attempt.pk) is None
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SKIPPED and attempt.result == AttemptResult.DO_NOT_CALL
    assert _text(attempt) is None
    assert morning.plan_mornings(utc(2026, 3, 11, 11)).planned == 0  # not planned any more


class FailingModel:
    name = "broken"

    async def stream(self, messages, tools):
        from calls.providers.base import ProviderError

        raise ProviderError("the model is down")
        yield  # pragma: no cover (an async generator)


class WritingModel:
    name = "writer"

    async def stream(self, messages, tools):
        from calls.providers.base import TextDelta

        assert "Ada" in messages[-1]["content"]
        yield TextDelta("Today is yours to shape.")


@pytest.mark.django_db
def test_the_language_model_writes_the_text_and_the_list_is_the_fallback(world_a, monkeypatch):
    campaign = daily(world_a)
    contact = add(campaign, "+12125550108", "America/New_York")
    morning.plan_mornings(utc(2026, 3, 10, 11))
    attempt = Attempt.objects.select_related("campaign", "contact").get(
        contact=contact, day=datetime.date(2026, 3, 10)
    )
    monkeypatch.setattr("campaigns.outcome_model.model_for", lambda agent: WritingModel())
    assert morning.morning_text(attempt) == "Good morning, Ada! Today is yours to shape."
    monkeypatch.setattr("campaigns.outcome_model.model_for", lambda agent: FailingModel())
    fallback = morning.morning_text(attempt)
    assert fallback == "Good morning, Ada! " + morning.affirmation_for(campaign, attempt.day)
    # The list rotates by date: three days, three different affirmations.
    days = [datetime.date(2026, 3, 10) + datetime.timedelta(days=n) for n in range(3)]
    assert len({morning.affirmation_for(campaign, d) for d in days}) == 3


@pytest.mark.django_db
def test_a_missed_morning_is_retried_that_morning_only(
    world_a, monkeypatch, django_capture_on_commit_callbacks
):
    campaign = daily(world_a, retry_no_answer_minutes=30, max_attempts=3)
    contact = add(campaign, "+12125550109", "America/New_York")
    morning.plan_mornings(utc(2026, 3, 10, 11))
    # The call of 08:30 in New York (12:30 UTC) went unanswered at 08:31.
    monkeypatch.setattr("campaigns.attempts.timezone.now", lambda: utc(2026, 3, 10, 12, 31))
    first = Attempt.objects.select_related("campaign").get(
        contact=contact, day=datetime.date(2026, 3, 10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        retry = finish_attempt(first, result=AttemptResult.NO_ANSWER)
    retry.refresh_from_db()
    assert retry.status == AttemptStatus.SCHEDULED and retry.day == first.day
    assert retry.number == 2  # retries are not texted: dialled when due
    assert Attempt.objects.filter(pk=retry.pk).filter(morning.ready_to_dial(retry.due_at)).exists()
    Campaign.objects.filter(pk=campaign.pk).update(retry_no_answer_minutes=180)
    retry = Attempt.objects.select_related("campaign").get(pk=retry.pk)
    with django_capture_on_commit_callbacks(execute=True):
        third = finish_attempt(retry, result=AttemptResult.NO_ANSWER)
    third.refresh_from_db()
    assert third.status == AttemptStatus.CANCELLED and third.error == morning.LATE
    # Tomorrow's morning stands as planned, once.
    assert morning.plan_mornings(utc(2026, 3, 10, 18)).planned == 0
    assert Attempt.objects.filter(contact=contact, day=datetime.date(2026, 3, 11)).count() == 1


@pytest.mark.django_db
def test_pause_and_resume_one_contact(world_a):
    campaign = daily(world_a)
    kept = add(campaign, "+12125550110", "America/New_York")
    paused = add(campaign, "+12125550111", "America/New_York", name="Bob Smith")
    now = utc(2026, 3, 10, 11)
    morning.plan_mornings(now)
    morning.pause_contact(campaign.pk, paused.pk, by="test")
    morning.pause_contact(campaign.pk, paused.pk, by="test")  # twice: the same pause
    assert PausedContact.objects.filter(campaign=campaign).count() == 1
    assert set(Attempt.objects.filter(contact=paused).values_list("status", flat=True)) == {
        AttemptStatus.CANCELLED
    }
    assert Attempt.objects.filter(contact=kept, status=AttemptStatus.SCHEDULED).count() == 2
    assert morning.plan_mornings(now).planned == 0
    assert morning.resume_contact(campaign.pk, paused.pk, by="test") is True
    assert morning.plan_mornings(now).planned == 2
    assert morning.resume_contact(campaign.pk, paused.pk, by="test") is False
    once = make_campaign(world_a, contacts=1, name="Once")
    with pytest.raises(morning.PauseRefused, match="daily"):
        morning.pause_contact(once.pk, once.contact_list.contacts.get().pk, by="test")
    with pytest.raises(morning.PauseRefused, match="not on the list"):
        morning.pause_contact(campaign.pk, once.contact_list.contacts.get().pk, by="test")


@pytest.mark.django_db
def test_the_commands_pause_and_resume_one_contact(world_a):
    campaign = daily(world_a)
    contact = add(campaign, "+12125550112", "America/New_York")
    out = StringIO()
    args = ["Mornings", "--tenant", "a", "--contact", "(212) 555-0112"]
    with pytest.raises(CommandError, match="is not a phone number"):
        call_command("pause_campaign", "Mornings", "--tenant", "a", "--contact", "12")
    call_command("pause_campaign", *args[:4], "+12125550112", stdout=out)
    assert PausedContact.objects.filter(campaign=campaign, contact=contact).exists()
    campaign.refresh_from_db()
    assert campaign.status == "running"  # only the contact was paused
    call_command("start_campaign", *args[:4], "+12125550112", stdout=out)
    assert not PausedContact.objects.filter(campaign=campaign).exists()
    assert "paused" in out.getvalue() and "resumed" in out.getvalue()
    with pytest.raises(CommandError, match="not on the list"):
        call_command("pause_campaign", "Mornings", "--tenant", "a", "--contact", "+12125550199")


@pytest.mark.django_db
def test_staff_see_and_pause_only_their_tenant_contacts_in_the_admin(world_a, world_b, client):
    mine = daily(world_a)
    contact = add(mine, "+12125550113", "America/New_York")
    theirs = daily(world_b, name="Their mornings")
    other = add(theirs, "+12125550114", "America/New_York")
    morning.pause_contact(theirs.pk, other.pk, by="b")
    client.force_login(world_a.staff)
    listing = client.get("/admin/campaigns/pausedcontact/")
    assert listing.status_code == 200 and "+12125550114" not in listing.content.decode()
    refused = client.post(
        "/admin/campaigns/pausedcontact/add/", {"campaign": theirs.pk, "contact": other.pk}
    )
    assert refused.status_code == 200  # the form refuses another tenant's rows
    assert not PausedContact.objects.filter(campaign=mine).exists()
    added = client.post(
        "/admin/campaigns/pausedcontact/add/", {"campaign": mine.pk, "contact": contact.pk}
    )
    assert added.status_code == 302
    pause = PausedContact.objects.get(campaign=mine)
    assert pause.paused_by == world_a.staff.username
    deleted = client.post(f"/admin/campaigns/pausedcontact/{pause.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not PausedContact.objects.filter(campaign=mine).exists()
