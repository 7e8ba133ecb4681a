"""Transferring a campaign call to a person: the live call is redirected to a <Dial> of the
campaign's transfer number through Twilio's REST API.

`start_transfer` (the in-call tool's action) records the transfer first (a "transfer" CallEvent
with the number, the attempt's outcome "transferred") and queues `redirect_to_person` on the
telephony queue. The job waits, briefly, for the agent's "Connecting you now" to be heard (a
redirect ends the media stream at once, cutting off whatever was still playing), then asks
Twilio. It claims the event before asking, so it redirects once however often it runs.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.utils import timezone
from requests import RequestException
from twilio.base.exceptions import TwilioRestException

from calls.control import send_control_sync
from calls.models import Call, CallEvent, Turn
from campaigns.models import Attempt
from telephony import rest, twiml
from telephony.models import TwilioAccount
from voiceapp.jobs import enqueue

log = logging.getLogger(__name__)

TRANSFER_EVENT = CallEvent.Kind.TRANSFER
TRANSFERRED = "transferred"
TRANSFER_FAILED = "transfer_failed"
# How long the job waits for the agent's last words to play before redirecting anyway.
SPEECH_WAIT_SECONDS = 6.0
SORRY = "I'm sorry, I couldn't connect you to a person right now."


class NoTransferNumber(ValueError):
    """The campaign has no number to transfer to."""


def start_transfer(attempt_id: int) -> str:
    """Record the transfer of the attempt's live call to the campaign's transfer number and
    queue the redirect. Asked twice, it is recorded and queued once. Returns the number;
    NoTransferNumber when the campaign has none."""
    with transaction.atomic():
        attempt = Attempt.objects.select_for_update().select_related("campaign").get(pk=attempt_id)
        number = attempt.campaign.transfer_number.strip()
        if not number:
            raise NoTransferNumber("this campaign has no transfer number")
        call_id = attempt.call_id
        if CallEvent.objects.filter(call_id=call_id, kind=TRANSFER_EVENT).exists():
            return number
        CallEvent.objects.create(
            call_id=call_id, kind=TRANSFER_EVENT, data={"to": number, "state": "requested"}
        )
        attempt.outcome = TRANSFERRED
        attempt.save(update_fields=["outcome", "updated_at"])
        enqueue(redirect_to_person, call_id, job_id=f"transfer-{call_id}", queue="telephony")
    return number


def redirect_to_person(call_id: int) -> None:
    """Redirect the call to its recorded transfer number (the job). Safe to run twice."""
    event = CallEvent.objects.filter(call_id=call_id, kind=TRANSFER_EVENT).first()
    if event is None or event.data.get("state") != "requested":
        return
    _wait_for_agent_words(call_id, since=event)
    with transaction.atomic():
        event = CallEvent.objects.select_for_update().get(pk=event.pk)
        if event.data.get("state") != "requested":
            return  # another run has it
        event.data = {**event.data, "state": "redirecting"}
        event.save(update_fields=["data"])
    call = Call.objects.get(pk=call_id)
    account = TwilioAccount.objects.filter(account_sid=call.twilio_account_sid).first()
    if account is None or not call.twilio_call_sid:
        _failed(event, "the call has no Twilio call to redirect")
        return
    dial = twiml.dial(event.data["to"], caller_id=call.from_number)
    try:
        live = rest.redirect(account, call.twilio_call_sid, dial)
    except TwilioRestException as exc:
        _failed(event, f"Twilio refused the transfer: {exc.code} {exc.msg}"[:300])
        return
    except RequestException as exc:  # not retried: a caller left waiting is told at once
        _failed(event, f"Twilio could not be reached: {type(exc).__name__}"[:300])
        return
    if not live:
        _failed(event, "the call had ended", tell_caller=False)
        return
    _set_state(event, "redirected", redirected_at=timezone.now().isoformat())
    log.info("call transferred", extra={"call_id": call_id})


def _wait_for_agent_words(call_id: int, *, since: CallEvent) -> None:
    # The agent's turn is written once its audio has played (marks echoed), so its row is
    # the sign that "Connecting you now" was heard.
    deadline = time.monotonic() + SPEECH_WAIT_SECONDS
    while time.monotonic() < deadline:
        spoken = Turn.objects.filter(
            call_id=call_id,
            speaker=Turn.Speaker.AGENT,
            started_at__gte=since.at,
            ended_at__isnull=False,
        ).exists()
        if spoken or Call.objects.filter(pk=call_id, ended_at__isnull=False).exists():
            return
        time.sleep(0.2)


def _set_state(event: CallEvent, state: str, **data: str) -> None:
    with transaction.atomic():
        event = CallEvent.objects.select_for_update().get(pk=event.pk)
        event.data = {**event.data, "state": state, **data}
        event.save(update_fields=["data"])


def _failed(event: CallEvent, reason: str, *, tell_caller: bool = True) -> None:
    log.warning("transfer failed: %s", reason, extra={"call_id": event.call_id})
    _set_state(event, "failed", error=reason)
    Attempt.objects.filter(call_id=event.call_id, outcome=TRANSFERRED).update(
        outcome=TRANSFER_FAILED, updated_at=timezone.now()
    )
    if tell_caller:
        send_control_sync(event.call_id, "say", text=SORRY)
