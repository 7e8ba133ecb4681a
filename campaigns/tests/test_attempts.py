"""Attempts after their dial: results from Twilio's callbacks, retries at each outcome's delay
up to the maximum, completion, the automatic pause, and the reaper after a worker died."""

from __future__ import annotations

import datetime

import django_rq
import pytest
from django.utils import timezone

from calls.actions import finish_call
from calls.models import Call, CallStatus
from campaigns import attempts
from campaigns.actions import start_campaign
from campaigns.dialer import dial_attempt, schedule_pass
from campaigns.models import Attempt, AttemptResult, AttemptStatus, CampaignStatus, TenantDialing
from campaigns.tests.dialer_world import dialled_attempt, make_campaign, twilio_says
from telephony import rest

RETRIES = [
    ("no-answer", AttemptResult.NO_ANSWER, "retry_no_answer_minutes"),
    ("busy", AttemptResult.BUSY, "retry_busy_minutes"),
    ("failed", AttemptResult.FAILED, "retry_failed_minutes"),
    ("canceled", AttemptResult.FAILED, "retry_failed_minutes"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("status, result, delay_field", RETRIES)
def test_each_outcome_is_retried_after_its_own_delay(
    client, world_a, carrier, django_capture_on_commit_callbacks, status, result, delay_field
):
    campaign = make_campaign(world_a, contacts=1, **{delay_field: 17})
    attempt = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_says(client, world_a, attempt.call, CallStatus=status)
        twilio_says(client, world_a, attempt.call, CallStatus=status)  # Twilio retries
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.DONE and attempt.result == result
    (following,) = campaign.attempts.filter(number=2)
    expected = attempt.ended_at + datetime.timedelta(minutes=17)
    assert abs(following.due_at - expected) < datetime.timedelta(seconds=2)
    assert following.status == AttemptStatus.SCHEDULED and campaign.attempts.count() == 2


@pytest.mark.django_db
def test_a_machine_verdict_makes_a_voicemail_result_retried_after_its_delay(
    client, world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1, retry_voicemail_minutes=240)
    attempt = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_says(
            client, world_a, attempt.call, "/telephony/twilio/amd/", AnsweredBy="machine_start"
        )
        twilio_says(client, world_a, attempt.call, CallStatus="completed")
    attempt.refresh_from_db()
    assert attempt.result == AttemptResult.VOICEMAIL and attempt.answered_by == "machine_start"
    following = campaign.attempts.get(number=2)
    assert following.due_at - attempt.ended_at >= datetime.timedelta(minutes=239)


@pytest.mark.django_db
def test_retries_stop_at_the_maximum_and_the_campaign_completes(
    client, world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1, max_attempts=2, retry_no_answer_minutes=0)
    for number in (1, 2):
        attempt = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
        assert attempt.number == number
        with django_capture_on_commit_callbacks(execute=True):
            twilio_says(client, world_a, attempt.call, CallStatus="no-answer")
    assert list(campaign.attempts.values_list("number", "result")) == [
        (1, "no_answer"),
        (2, "no_answer"),
    ]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


@pytest.mark.django_db
def test_a_person_who_answered_is_not_called_again(
    client, world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=2, max_concurrent_calls=1)
    first = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_says(client, world_a, first.call, CallStatus="in-progress")
        twilio_says(client, world_a, first.call, CallStatus="completed")
    first.refresh_from_db()
    assert first.result == AttemptResult.HUMAN
    assert not campaign.attempts.filter(contact=first.contact, number=2).exists()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING  # the other contact is still to call


@pytest.mark.django_db
def test_most_recent_attempts_failing_at_the_carrier_pause_the_campaign(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=12, max_concurrent_calls=12)
    TenantDialing.objects.create(tenant=world_a.tenant, max_concurrent_calls=12)
    carrier.fail_next = 6
    start_campaign(campaign.pk, by="test")
    with django_capture_on_commit_callbacks(execute=True):
        claimed = schedule_pass().claimed
    for pk in claimed[:10]:
        with django_capture_on_commit_callbacks(execute=True):
            dial_attempt(pk)
    # 6 refused by Twilio, 4 placed and still ringing: not yet 10 finished.
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    for attempt in Attempt.objects.filter(pk__in=claimed[:10], status=AttemptStatus.DIALING):
        with django_capture_on_commit_callbacks(execute=True):
            finish_call(attempt.call_id, status=CallStatus.NO_ANSWER, outcome="", source="test")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert campaign.status_reason == "Paused by the dialer: 6 of the last 10 attempts failed."
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_pass().claimed == []


# ---------------------------------------------------------------- the reaper


def later(minutes: int = 5) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(minutes=minutes)


@pytest.mark.django_db
def test_a_claim_whose_job_never_ran_goes_back_to_the_queue(
    world_a, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1)
    start_campaign(campaign.pk, by="test")
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = schedule_pass().claimed
    assert attempts.reap_attempts().requeued == 0  # not yet too long
    assert attempts.reap_attempts(later()).requeued == 1
    assert Attempt.objects.get(pk=pk).status == AttemptStatus.SCHEDULED


@pytest.mark.django_db
def test_a_worker_killed_before_asking_twilio_is_recovered_and_dials_once(
    world_a, carrier, monkeypatch, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1)

    def killed(call_id):
        raise SystemExit("SIGKILL")  # the worker dies after the commit, before the dial

    monkeypatch.setattr("campaigns.dialer.dial_call", killed)
    start_campaign(campaign.pk, by="test")
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = schedule_pass().claimed
    with pytest.raises(SystemExit):
        dial_attempt(pk)
    attempt = Attempt.objects.get(pk=pk)
    assert attempt.status == AttemptStatus.DIALING and attempt.call.status == CallStatus.QUEUED
    with django_capture_on_commit_callbacks(execute=True):
        report = attempts.reap_attempts(later())
    assert report.redialled == 1
    job = django_rq.get_queue("telephony").fetch_job(f"dial-{attempt.call_id}")
    job.func(*job.args)
    job.func(*job.args)  # the dial job run twice
    job.delete()
    assert [f["To"] for f in carrier.dials] == [[attempt.contact.phone]]
    with django_capture_on_commit_callbacks(execute=True):
        assert attempts.reap_attempts(later(10)).redialled == 0  # placed: followed, not redone
    assert len(carrier.dials) == 1


@pytest.mark.django_db
def test_a_worker_killed_while_asking_twilio_is_lost_and_tried_again_later(
    world_a, carrier, monkeypatch, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1, retry_failed_minutes=30)

    def cut_off(*args, **kwargs):
        raise SystemExit("SIGKILL")  # the request left; the worker died before the answer

    monkeypatch.setattr(rest, "dial", cut_off)
    start_campaign(campaign.pk, by="test")
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = schedule_pass().claimed
    with pytest.raises(SystemExit):
        dial_attempt(pk)
    Call.objects.filter(attempt__pk=pk).update(status=CallStatus.INITIATED)
    with django_capture_on_commit_callbacks(execute=True):
        report = attempts.reap_attempts(later())
    assert report.lost == 1
    attempt = Attempt.objects.select_related("call").get(pk=pk)
    assert attempt.result == AttemptResult.LOST and attempt.call.outcome == attempts.LOST
    assert attempt.call.status == CallStatus.FAILED
    following = campaign.attempts.get(number=2)
    assert following.due_at - attempt.ended_at >= datetime.timedelta(minutes=29)
    with django_capture_on_commit_callbacks(execute=True):
        assert attempts.reap_attempts(later(10)).lost == 0  # safe to run twice


@pytest.mark.django_db
def test_an_attempt_whose_call_ended_unnoticed_is_settled_by_the_reaper(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1)
    attempt = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
    Call.objects.filter(pk=attempt.call_id).update(status=CallStatus.BUSY, outcome="busy")
    with django_capture_on_commit_callbacks(execute=True):
        assert attempts.reap_attempts(later()).settled == 1
    assert Attempt.objects.get(pk=attempt.pk).result == AttemptResult.BUSY


@pytest.mark.django_db
def test_a_claim_taken_back_gets_a_new_dial_job_and_still_dials_once(
    world_a, carrier, django_capture_on_commit_callbacks
):
    campaign = make_campaign(world_a, contacts=1)
    start_campaign(campaign.pk, by="test")
    queue = django_rq.get_queue("telephony")
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = schedule_pass().claimed
    first = Attempt.objects.get(pk=pk).claimed_at
    old_job = queue.fetch_job(f"attempt-{pk}-{int(first.timestamp() * 1000)}")
    assert old_job is not None  # the dead worker's, still "queued" in rq
    attempts.reap_attempts(later())
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_pass(later(1)).claimed == [pk]
    second = Attempt.objects.get(pk=pk).claimed_at
    new_job = queue.fetch_job(f"attempt-{pk}-{int(second.timestamp() * 1000)}")
    assert new_job is not None and new_job.id != old_job.id
    new_job.func(*new_job.args)
    old_job.func(*old_job.args)  # the old one, if it ever runs, finds the claim taken
    assert len(carrier.dials) == 1
    old_job.delete()
    new_job.delete()
