"""A campaign's texts: before the call (the dialer calls send_text_before) and after an answered
call (on call_ended), rendered with the contact's variables, sent once through the fake
Twilio, skipped for someone who replied STOP, never sent from a template that cannot be filled."""

from __future__ import annotations

import pytest

from calls.actions import finish_call
from calls.models import CallStatus
from campaigns.models import DoNotCall
from campaigns.tests.in_call import (  # noqa: F401 (fixtures)
    build_campaign_call,
    fake_twilio_fixture,
    messages,
    run_jobs,
    twilio_fixture,
)
from campaigns.texts import send_text_after, send_text_before
from telephony.models import Text, TextStatus
from telephony.text_replies import record_opt_out
from telephony.texts import send_text

BEFORE = "Hi {first_name}, {business_name} will call you shortly about {product}."
AFTER = "Thanks for your time, {first_name}! Reply STOP to opt out."


@pytest.mark.django_db
def test_the_text_before_is_rendered_and_sent_once(
    world_a, twilio, django_capture_on_commit_callbacks
):
    cc = build_campaign_call(world_a, text_before=BEFORE)
    with django_capture_on_commit_callbacks(execute=True):
        text = send_text_before(cc.attempt)
        again = send_text_before(cc.attempt.pk)  # a dial job run twice
    assert again.pk == text.pk and text.key == f"attempt-{cc.attempt.pk}-before"
    run_jobs()
    send_text(text.pk)
    (sent,) = messages(twilio)
    assert sent["Body"] == ["Hi Ada, Shop A will call you shortly about solar panels."]
    assert sent["To"] == ["+12125550123"] and sent["From"] == [world_a.number.number]
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED and text.twilio_sid  # Twilio's status recorded
    cc.attempt.refresh_from_db()
    assert cc.attempt.text_sent is True


@pytest.mark.django_db
def test_no_template_no_text(world_a, twilio):
    cc = build_campaign_call(world_a)
    assert send_text_before(cc.attempt) is None and send_text_after(cc.attempt) is None
    assert not Text.objects.exists()


@pytest.mark.django_db
def test_someone_who_replied_stop_is_not_texted(
    world_a, twilio, django_capture_on_commit_callbacks
):
    cc = build_campaign_call(world_a, text_before=BEFORE)
    record_opt_out(world_a.tenant.pk, cc.contact.phone, keyword="STOP")
    with django_capture_on_commit_callbacks(execute=True):
        text = send_text_before(cc.attempt)
    assert run_jobs() == [] and messages(twilio) == []
    assert text.status == TextStatus.SKIPPED
    cc.attempt.refresh_from_db()
    assert cc.attempt.text_sent is False


@pytest.mark.django_db
def test_an_opted_out_contact_is_not_texted(world_a, twilio, django_capture_on_commit_callbacks):
    cc = build_campaign_call(world_a, text_before=BEFORE)
    cc.contact.opted_out = True
    cc.contact.save()
    with django_capture_on_commit_callbacks(execute=True):
        text = send_text_before(cc.attempt)
    assert run_jobs() == []
    assert text.status == TextStatus.SKIPPED and text.last_error == "The contact opted out."


@pytest.mark.django_db
def test_a_template_with_a_variable_the_contact_lacks_is_failed_not_sent(
    world_a, twilio, django_capture_on_commit_callbacks
):
    cc = build_campaign_call(world_a, text_before="Hi {first_name}, about {appointment}.")
    with django_capture_on_commit_callbacks(execute=True):
        text = send_text_before(cc.attempt)
    assert run_jobs() == []
    assert text.status == TextStatus.FAILED
    assert text.last_error == "The template cannot be filled in: missing variables: appointment"


def end(cc, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        finish_call(cc.call.pk, outcome="agent_ended", source="test", **kwargs)


@pytest.mark.django_db
def test_the_text_after_an_answered_call_is_sent_once_when_the_call_ends(
    world_a, twilio, django_capture_on_commit_callbacks
):
    cc = build_campaign_call(world_a, text_after=AFTER)
    end(cc, django_capture_on_commit_callbacks)
    end(cc, django_capture_on_commit_callbacks)  # finished again: call_ended is not sent twice
    run_jobs()
    (sent,) = messages(twilio)
    assert sent["Body"] == ["Thanks for your time, Ada! Reply STOP to opt out."]
    assert Text.objects.get().key == f"attempt-{cc.attempt.pk}-after"


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["not_answered", "machine", "wrong_person", "do_not_call"])
def test_no_text_after_when_no_person_or_the_wrong_one_answered(
    world_a, twilio, django_capture_on_commit_callbacks, case
):
    cc = build_campaign_call(world_a, text_after=AFTER)
    if case == "not_answered":
        cc.call.answered_at = None
        cc.call.status = CallStatus.RINGING
        cc.call.save()
    elif case == "machine":
        cc.attempt.answered_by = "machine_end_beep"
    elif case == "wrong_person":
        cc.attempt.outcome = "wrong_person"
    else:
        DoNotCall.objects.create(phone=cc.contact.phone)  # the global list
    cc.attempt.save()
    end(cc, django_capture_on_commit_callbacks, status=CallStatus.NO_ANSWER)
    run_jobs()
    assert messages(twilio) == [] and not Text.objects.exists()
