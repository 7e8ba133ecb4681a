"""Jobs that act on calls through Twilio. They take ids, and are safe to run twice."""

from __future__ import annotations

import logging

from requests import RequestException
from twilio.base.exceptions import TwilioRestException

from calls.models import Call
from telephony import rest
from telephony.models import TwilioAccount
from voiceapp.jobs import enqueue

log = logging.getLogger(__name__)


def hang_up_call(call_id: int) -> None:
    call = Call.objects.filter(pk=call_id).first()
    if call is None or not call.twilio_call_sid:
        return
    account = TwilioAccount.objects.filter(account_sid=call.twilio_account_sid).first()
    if account is None:
        log.warning("cannot hang up: the call's account is gone", extra={"call_id": call_id})
        return
    try:
        rest.hang_up(account, call.twilio_call_sid)
    except (TwilioRestException, RequestException) as exc:
        # The stream is closed too, and the TwiML after <Connect> hangs up: the call ends
        # either way. This is the belt to that pair of braces, so a failure is only logged.
        log.warning(
            "Twilio hang-up request failed", extra={"call_id": call_id, "error": str(exc)[:300]}
        )


def request_hang_up(call_id: int) -> None:
    enqueue(hang_up_call, call_id, job_id=f"hangup-{call_id}", queue="telephony")
