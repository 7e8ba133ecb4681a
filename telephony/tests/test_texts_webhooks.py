"""Twilio's requests about texts: the delivery status callback (signed, idempotent, never
backwards) and texts people send us (STOP, START, HELP per tenant; forged ones refused)."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from telephony.models import Text, TextOptOut, TextStatus
from telephony.tests.test_texts import CUSTOMER, a_text, messages, rest  # noqa: F401 (fixture)
from telephony.tests.test_webhooks import signed_post
from telephony.texts import send_text

STATUS_PATH = "/telephony/twilio/sms-status/"
SMS_PATH = "/telephony/twilio/sms/"


def sent_text(world, key="order-1-ready") -> Text:
    text = Text.objects.create(
        tenant=world.tenant,
        key=key,
        to=CUSTOMER,
        from_number=world.number.number,
        body="ready",
        status=TextStatus.QUEUED,
        attempts=1,
        twilio_sid=f"SM{world.tenant.pk:032x}",
    )
    return text


def status_params(world, text, status, **extra):
    return {
        "AccountSid": world.account.account_sid,
        "MessageSid": text.twilio_sid,
        "MessageStatus": status,
        "To": text.to,
        "From": text.from_number,
        **extra,
    }


def post_status(client, world, text, status, token=None, **extra):
    params = status_params(world, text, status, **extra)
    return signed_post(client, STATUS_PATH, params, token or f"token-{world.tenant.slug}")


# ---------------------------------------------------------------- the status callback


@pytest.mark.django_db
def test_the_status_callback_moves_the_text_forward_and_never_back(client, world_a):
    text = sent_text(world_a)
    seen = []
    for status in ["sending", "sent", "sent", "delivered", "sent", "queued", "failed"]:
        assert post_status(client, world_a, text, status).status_code == 200
        text.refresh_from_db()
        seen.append(text.status)
    # Repeated ("sent" twice) and late ("sent", "queued", even "failed" after "delivered")
    # callbacks change nothing.
    assert seen == ["sending", "sent", "sent", "delivered", "delivered", "delivered", "delivered"]


@pytest.mark.django_db
def test_an_undelivered_text_records_twilios_error(client, world_a):
    text = sent_text(world_a)
    post_status(client, world_a, text, "undelivered", ErrorCode="30003")
    text.refresh_from_db()
    assert text.status == TextStatus.UNDELIVERED and "30003" in text.last_error


@pytest.mark.django_db
def test_a_forged_status_callback_is_refused_and_logged(client, world_a, caplog):
    text = sent_text(world_a)
    response = post_status(client, world_a, text, "delivered", token="not-the-token")
    assert response.status_code == 403
    assert "bad signature" in caplog.text
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED


@pytest.mark.django_db
def test_another_tenants_account_cannot_move_a_text(client, world_a, world_b):
    text = sent_text(world_a)
    params = status_params(world_b, text, "failed")  # B's account, A's message sid
    assert signed_post(client, STATUS_PATH, params, "token-b").status_code == 200
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED


@pytest.mark.django_db
def test_a_callback_for_an_unknown_text_is_answered_200(client, world_a):
    params = status_params(world_a, sent_text(world_a), "delivered") | {"MessageSid": "SMx"}
    assert signed_post(client, STATUS_PATH, params, "token-a").status_code == 200


# ---------------------------------------------------------------- texts people send us


def inbound(client, world, body, *, sender=CUSTOMER, token=None, to=None):
    params = {
        "AccountSid": world.account.account_sid,
        "MessageSid": "SM" + "7" * 32,
        "From": sender,
        "To": to or world.number.number,
        "Body": body,
    }
    return signed_post(client, SMS_PATH, params, token or f"token-{world.tenant.slug}")


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["STOP", "stop", " Unsubscribe ", "STOPALL", "cancel", "END"])
def test_stop_is_honoured_later_texts_are_skipped(client, world_a, rest, word):  # noqa: F811
    response = inbound(client, world_a, word)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert "<Message>" not in response.content.decode()  # Twilio confirms the opt-out itself
    opt_out = TextOptOut.objects.get(tenant=world_a.tenant, phone=CUSTOMER)
    assert opt_out.opted_out and opt_out.keyword == word.strip().upper()
    text = a_text(world_a)
    send_text(text.pk)
    text.refresh_from_db()
    assert text.status == TextStatus.SKIPPED and "STOP" in text.last_error
    assert messages(rest) == []


@pytest.mark.django_db
def test_start_re_enables_texts(client, world_a, rest):  # noqa: F811
    inbound(client, world_a, "STOP")
    response = inbound(client, world_a, "start")
    assert "you will get texts about your orders again" in response.content.decode()
    assert not TextOptOut.objects.get(tenant=world_a.tenant, phone=CUSTOMER).opted_out
    text = a_text(world_a)
    send_text(text.pk)
    assert len(messages(rest)) == 1


@pytest.mark.django_db
def test_stop_to_one_shop_leaves_the_other_shops_texts(client, world_a, world_b):
    inbound(client, world_a, "STOP")
    assert a_text(world_a).status == TextStatus.SKIPPED
    assert a_text(world_b).status == TextStatus.PENDING


@pytest.mark.django_db
def test_help_says_who_is_texting(client, world_a):
    body = inbound(client, world_a, "help").content.decode()
    assert "Shop A" in body and "Reply STOP" in body
    assert not TextOptOut.objects.exists()


@pytest.mark.django_db
def test_other_texts_change_nothing(client, world_a):
    body = inbound(client, world_a, "Please stop by later").content.decode()
    assert "<Message>" not in body and not TextOptOut.objects.exists()


@pytest.mark.django_db
def test_a_forged_inbound_text_is_refused_and_logged(client, world_a, caplog):
    assert inbound(client, world_a, "STOP", token="not-the-token").status_code == 403
    assert "bad signature" in caplog.text
    assert not TextOptOut.objects.exists()


@pytest.mark.django_db
def test_a_text_to_another_accounts_number_is_ignored(client, world_a, world_b):
    # Signed by A's account, but to B's number: A cannot opt people out of B's texts.
    response = inbound(client, world_a, "STOP", to=world_b.number.number)
    assert response.status_code == 200 and not TextOptOut.objects.exists()


@pytest.mark.django_db
def test_a_text_with_changed_parameters_is_refused(client, world_a):
    params = {
        "AccountSid": world_a.account.account_sid,
        "From": CUSTOMER,
        "To": world_a.number.number,
        "Body": "HELP",
    }
    sig = RequestValidator("token-a").compute_signature(
        "https://voice.example.test" + SMS_PATH, params
    )
    params["Body"] = "STOP"
    assert signed_post(client, SMS_PATH, params, "token-a", signature=sig).status_code == 403
    assert not TextOptOut.objects.exists()
