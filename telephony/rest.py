"""Twilio's REST API, through the twilio library: the only way we act on a live call."""

from __future__ import annotations

import logging

from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from telephony.models import TwilioAccount

log = logging.getLogger(__name__)

CALL_NOT_IN_PROGRESS = 21220  # Twilio's answer to redirecting a call that has ended


def client_for(account: TwilioAccount) -> Client:
    client = Client(account.account_sid, account.auth_token)
    if settings.TWILIO_API_BASE_URL:  # a local stand-in for api.twilio.com (tests, demos)
        client.api.base_url = settings.TWILIO_API_BASE_URL
    return client


def hang_up(account: TwilioAccount, call_sid: str) -> bool:
    """End a live call. Returns False when Twilio says the call is already over."""
    try:
        client_for(account).calls(call_sid).update(status="completed")
    except TwilioRestException as exc:
        if exc.status == 404:  # already gone
            return False
        raise
    return True


def redirect(account: TwilioAccount, call_sid: str, twiml: str) -> bool:
    """Replace a live call's TwiML (a <Dial> to transfer it): what it was doing stops, a media
    stream included. Returns False when Twilio says the call is already over."""
    try:
        client_for(account).calls(call_sid).update(twiml=twiml)
    except TwilioRestException as exc:
        if exc.status == 404 or exc.code == CALL_NOT_IN_PROGRESS:  # already gone
            return False
        raise
    return True


def dial(
    account: TwilioAccount,
    *,
    to: str,
    from_: str,
    url: str,
    status_callback: str,
    machine_detection: str = "",
    amd_callback: str = "",
    ring_seconds: int | None = None,
) -> str:
    """Place a call; Twilio fetches `url` for its TwiML once answered. Returns the CallSid.
    With `machine_detection` ("Enable" or "DetectMessageEnd") the verdict is posted to
    `amd_callback` while the call is already connected (asynchronous AMD). `ring_seconds`:
    how long it may ring (Twilio's default is 60 s)."""
    options: dict[str, object] = {}
    if ring_seconds:
        options["timeout"] = ring_seconds  # how long Twilio lets it ring before "no-answer"
    if machine_detection:
        options.update(
            machine_detection=machine_detection,
            async_amd="true",  # typed str by the SDK: a Python True goes out as "True"
            async_amd_status_callback=amd_callback,
            async_amd_status_callback_method="POST",
        )
    call = client_for(account).calls.create(
        to=to,
        from_=from_,
        url=url,
        method="POST",
        status_callback=status_callback,
        status_callback_method="POST",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        **options,
    )
    return call.sid
