"""Texts through Twilio's Messages API (a local fake): written once per key, sent once however
often the job runs, from the right number, retried with backoff when Twilio or the network
fails for a while, failed at once when Twilio says it never will work."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from telephony.models import PhoneNumber, Text, TextOptOut, TextStatus
from telephony.tests.fake_twilio import FakeTwilioRest, twilio_error
from telephony.texts import queue_text, retry_now, send_text, sweep_texts
from voiceapp.retries import BACKOFF_SECONDS, MAX_ATTEMPTS

CUSTOMER = "+14155559999"
QUEUES = ("telephony", "default")


def run_jobs() -> list[str]:
    """Run every queued job here, in this process and transaction (rq's SimpleWorker).
    Returns the ids of the jobs that ran."""
    queues = [django_rq.get_queue(name) for name in QUEUES]
    ids = [job_id for queue in queues for job_id in queue.job_ids]
    SimpleWorker(queues, connection=queues[0].connection).work(burst=True)
    return ids


def empty_the_queues() -> None:
    for name in QUEUES:
        django_rq.get_queue(name).empty()


@pytest.fixture
def empty_queues():
    empty_the_queues()


@pytest.fixture
def rest(settings, twilio_rest):
    """The fake Twilio's requests; every queue starts empty."""
    empty_the_queues()
    settings.TWILIO_API_BASE_URL = twilio_rest
    FakeTwilioRest.requests.clear()
    FakeTwilioRest.replies.clear()
    return FakeTwilioRest.requests


def messages(requests) -> list[dict]:
    return [body for path, body in requests if path.endswith("/Messages.json")]


def a_text(world, key="order-1-ready", to=CUSTOMER, **kwargs) -> Text:
    return queue_text(
        tenant_id=world.tenant.pk, to=to, body="Your order 1 0 1 is ready.", key=key, **kwargs
    )


# ---------------------------------------------------------------- sending once


@pytest.mark.django_db
def test_a_text_is_queued_after_the_commit_and_sent_once(
    world_a, rest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        text = a_text(world_a, from_number=world_a.number.number)
        assert django_rq.get_queue("telephony").job_ids == []  # not before the commit
    assert run_jobs() == [f"text-{text.pk}"]
    send_text(text.pk)  # the job again, as a second worker would: nothing more is sent
    (sent,) = messages(rest)
    assert sent["To"] == [CUSTOMER] and sent["From"] == [world_a.number.number]
    assert sent["Body"] == ["Your order 1 0 1 is ready."]
    assert sent["StatusCallback"] == ["https://voice.example.test/telephony/twilio/sms-status/"]
    assert rest[0][0] == f"/2010-04-01/Accounts/{world_a.account.account_sid}/Messages.json"
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED and text.attempts == 1
    assert text.twilio_sid.startswith("SM") and text.next_attempt_at is None


@pytest.mark.django_db
def test_the_same_key_is_one_text(world_a, rest):
    first = a_text(world_a)
    again = a_text(world_a)
    assert again.pk == first.pk and Text.objects.count() == 1
    send_text(first.pk)
    send_text(first.pk)
    assert len(messages(rest)) == 1


@pytest.mark.django_db
def test_a_text_goes_from_the_tenants_first_number_unless_the_call_came_to_another(
    world_a, world_b, rest
):
    second = PhoneNumber.objects.create(
        tenant=world_a.tenant, account=world_a.account, number="+14155550177"
    )
    assert a_text(world_a, key="k1", from_number=second.number).from_number == second.number
    assert a_text(world_a, key="k2").from_number == world_a.number.number
    # Another tenant's number is never used, whatever the call said.
    assert a_text(world_a, key="k3", from_number=world_b.number.number).from_number == (
        world_a.number.number
    )


@pytest.mark.django_db
def test_a_bad_number_or_no_number_to_send_from_is_recorded_as_failed(world_a, rest):
    bad = a_text(world_a, key="k1", to="not a phone")
    assert bad.status == TextStatus.FAILED and "not a phone number" in bad.last_error
    PhoneNumber.objects.filter(tenant=world_a.tenant).delete()
    none = a_text(world_a, key="k2")
    assert none.status == TextStatus.FAILED and "no phone number" in none.last_error
    send_text(bad.pk)
    send_text(none.pk)
    assert messages(rest) == []


# ---------------------------------------------------------------- opted out


@pytest.mark.django_db
def test_a_text_to_an_opted_out_number_is_skipped_never_sent(world_a, world_b, rest):
    TextOptOut.objects.create(tenant=world_a.tenant, phone=CUSTOMER, keyword="STOP")
    skipped = a_text(world_a)
    assert skipped.status == TextStatus.SKIPPED and skipped.next_attempt_at is None
    send_text(skipped.pk)
    # The opt-out is the tenant's: another shop may still text the same person.
    other = a_text(world_b)
    send_text(other.pk)
    assert [m["From"] for m in messages(rest)] == [[world_b.number.number]]


@pytest.mark.django_db
def test_an_opt_out_after_the_text_was_written_still_stops_it(world_a, rest):
    text = a_text(world_a)
    TextOptOut.objects.create(tenant=world_a.tenant, phone=CUSTOMER, keyword="STOP")
    send_text(text.pk)
    assert messages(rest) == []
    text.refresh_from_db()
    assert text.status == TextStatus.SKIPPED and text.attempts == 1


# ---------------------------------------------------------------- failures and retries


@pytest.mark.django_db
def test_a_twilio_500_is_retried_with_backoff_then_sent(
    world_a, rest, django_capture_on_commit_callbacks
):
    FakeTwilioRest.replies.append(twilio_error(500, 20500, "Internal Server Error"))
    text = a_text(world_a)
    before = timezone.now()
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == TextStatus.PENDING and text.attempts == 1
    assert "500" in text.last_error and "20500" in text.last_error
    wait = (text.next_attempt_at - before).total_seconds()
    assert BACKOFF_SECONDS[0] <= wait < BACKOFF_SECONDS[0] + 5
    assert sweep_texts() == 0  # not due yet
    # The backoff passes (the row's time moved back rather than the clock forward).
    Text.objects.filter(pk=text.pk).update(next_attempt_at=timezone.now())
    for _ in range(2):  # a second sweep before the job ran does not queue it twice
        with django_capture_on_commit_callbacks(execute=True):
            assert sweep_texts() == 1
    assert run_jobs() == [f"text-{text.pk}"]
    assert len(messages(rest)) == 2  # the refused one and the one that went
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED and text.attempts == 2 and text.last_error == ""


@pytest.mark.django_db
def test_a_connection_refused_is_retried(world_a, settings):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    text = a_text(world_a)
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == TextStatus.PENDING and text.next_attempt_at is not None
    assert "ConnectionError" in text.last_error


@pytest.mark.django_db
@pytest.mark.parametrize("code", [21211, 21614, 21610])
def test_a_permanent_twilio_error_fails_at_once(world_a, rest, code):
    FakeTwilioRest.replies.append(twilio_error(400, code, "The 'To' number is not valid."))
    text = a_text(world_a)
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == TextStatus.FAILED and text.attempts == 1
    assert text.next_attempt_at is None and str(code) in text.last_error
    assert sweep_texts(now=timezone.now() + timedelta(days=1)) == 0
    # 21610: the person unsubscribed from this sender; later texts are skipped, not refused.
    opted_out = TextOptOut.objects.filter(tenant=world_a.tenant, phone=CUSTOMER).exists()
    assert opted_out == (code == 21610)


@pytest.mark.django_db
def test_a_text_gives_up_after_the_last_attempt(world_a, rest):
    text = a_text(world_a)
    Text.objects.filter(pk=text.pk).update(attempts=MAX_ATTEMPTS - 1)
    FakeTwilioRest.replies.append(twilio_error(503, 20503, "Service Unavailable"))
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == TextStatus.FAILED and text.attempts == MAX_ATTEMPTS
    assert text.next_attempt_at is None and "503" in text.last_error


@pytest.mark.django_db
def test_a_text_whose_worker_died_mid_send_is_taken_again_after_the_lease(world_a, rest):
    text = a_text(world_a)
    stale = timezone.now() - timedelta(minutes=5)
    Text.objects.filter(pk=text.pk).update(
        status=TextStatus.SUBMITTING, claimed_at=stale, attempts=1, next_attempt_at=None
    )
    assert sweep_texts() == 1
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED and text.attempts == 2
    # A fresh claim is someone else's: left alone.
    Text.objects.filter(pk=text.pk).update(status=TextStatus.SUBMITTING, claimed_at=timezone.now())
    send_text(text.pk)
    assert len(messages(rest)) == 1


@pytest.mark.django_db
def test_retry_now_sends_a_failed_text_again_and_leaves_sent_ones(
    world_a, rest, django_capture_on_commit_callbacks
):
    FakeTwilioRest.replies.append(twilio_error(400, 21211, "Invalid 'To'"))
    failed = a_text(world_a, key="k1")
    sent = a_text(world_a, key="k2")
    send_text(failed.pk)
    send_text(sent.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_now([failed.pk, sent.pk]) == 1
    assert run_jobs() == [f"text-{failed.pk}"]
    failed.refresh_from_db()
    assert failed.status == TextStatus.QUEUED and failed.attempts == 2
    assert len(messages(rest)) == 3
