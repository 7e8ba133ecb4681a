"""Transferring a campaign call to a person: the live call redirected, through Twilio's REST
API (a local fake), to a <Dial> of the campaign's transfer number, once the agent's "Connecting
you now" has played; once however often the job runs; a refusal recorded and told."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from django.utils import timezone

from calls.models import CallEvent, Turn
from campaigns import transfer
from campaigns.tests.in_call import (  # noqa: F401 (fixtures)
    build_campaign_call,
    fake_twilio_fixture,
    run_jobs,
    run_tool,
    twilio_fixture,
)
from telephony import twiml
from telephony.tests.fake_twilio import FakeTwilioRest, twilio_error

PERSON = "+12125550199"


@pytest.fixture
def told(monkeypatch):
    """What the job asked the live session to say."""
    said: list[tuple[int, str, dict]] = []
    monkeypatch.setattr(
        transfer,
        "send_control_sync",
        lambda call_id, action, **data: said.append((call_id, action, data)),
    )
    return said


def transfer_requested(world, django_capture_on_commit_callbacks):
    cc = build_campaign_call(world, transfer_number=PERSON)
    with django_capture_on_commit_callbacks(execute=True):
        result = run_tool("transfer_to_human", cc.context())
    assert result.say == "Connecting you now."
    return cc


def agent_said(cc, text="Connecting you now."):
    Turn.objects.create(
        call=cc.call,
        index=cc.call.turns.count(),
        speaker=Turn.Speaker.AGENT,
        text=text,
        started_at=timezone.now(),
        ended_at=timezone.now(),
    )


def updates(requests, cc) -> list[dict]:
    path = f"/2010-04-01/Accounts/{cc.call.twilio_account_sid}/Calls/{cc.call.twilio_call_sid}.json"
    return [body for p, body in requests if p == path]


def test_the_dial_twiml_is_built_by_the_twilio_library():
    assert twiml.dial(PERSON, caller_id="+14155550101", ring_seconds=20) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Dial callerId="+14155550101" timeout="20">+12125550199</Dial><Hangup /></Response>'
    )


@pytest.mark.django_db
def test_the_call_is_redirected_to_a_dial_once_the_agent_has_spoken(
    world_a, twilio, told, django_capture_on_commit_callbacks
):
    cc = transfer_requested(world_a, django_capture_on_commit_callbacks)
    agent_said(cc)
    assert run_jobs() == [f"transfer-{cc.call.pk}"]
    transfer.redirect_to_person(cc.call.pk)  # the job again: nothing more is asked
    (update,) = updates(twilio, cc)
    assert unquote(update["Twiml"][0]) == twiml.dial(PERSON, caller_id=world_a.number.number)
    event = CallEvent.objects.get(call=cc.call, kind="transfer")
    assert event.data["state"] == "redirected" and event.data["to"] == PERSON
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome == "transferred" and told == []


@pytest.mark.django_db
def test_the_redirect_goes_ahead_when_the_agents_words_never_show(
    world_a, twilio, told, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(transfer, "SPEECH_WAIT_SECONDS", 0.3)
    cc = transfer_requested(world_a, django_capture_on_commit_callbacks)
    run_jobs()
    assert len(updates(twilio, cc)) == 1


@pytest.mark.django_db
def test_a_call_already_over_is_recorded_and_nobody_is_told(
    world_a, twilio, told, django_capture_on_commit_callbacks
):
    cc = transfer_requested(world_a, django_capture_on_commit_callbacks)
    agent_said(cc)
    FakeTwilioRest.replies.append(twilio_error(404, 20404, "The requested resource was not found"))
    run_jobs()
    event = CallEvent.objects.get(call=cc.call, kind="transfer")
    assert event.data["state"] == "failed" and event.data["error"] == "the call had ended"
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome == "transfer_failed" and told == []


@pytest.mark.django_db
def test_a_refused_transfer_is_recorded_and_the_caller_told(
    world_a, twilio, told, django_capture_on_commit_callbacks
):
    cc = transfer_requested(world_a, django_capture_on_commit_callbacks)
    agent_said(cc)
    FakeTwilioRest.replies.append(twilio_error(400, 13214, "Dial: Invalid callerId value"))
    run_jobs()
    transfer.redirect_to_person(cc.call.pk)  # not retried: it failed, and was said so
    assert len(updates(twilio, cc)) == 1
    event = CallEvent.objects.get(call=cc.call, kind="transfer")
    assert event.data["state"] == "failed" and "13214" in event.data["error"]
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome == "transfer_failed"
    assert told == [(cc.call.pk, "say", {"text": transfer.SORRY})]
