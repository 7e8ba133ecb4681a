"""Jobs that act on calls through Twilio. They take ids, and are safe to run twice."""

from __future__ import annotations

import logging

from requests import RequestException
from twilio.base.exceptions import TwilioRestException

from calls import admission
from calls.actions import finish_call
from calls.models import Call, CallStatus, FirstSpeaker
from telephony import dialing, rest, twiml
from telephony.models import PhoneNumber, TwilioAccount
from telephony.signatures import public_url
from voiceapp.jobs import enqueue

log = logging.getLogger(__name__)

DIAL_FAILED = "dial_failed"


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


def say_lines_busy(call_id: int) -> None:
    """Replace the TwiML of a call refused at its media stream (the process was full) with the
    "all our lines are busy" message: Twilio stops the stream, says it and hangs up."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None or not call.twilio_call_sid:
        return
    account = TwilioAccount.objects.filter(account_sid=call.twilio_account_sid).first()
    if account is None:
        log.warning("lines busy not told: the call's account is gone", extra={"call_id": call_id})
        return
    try:
        outbound = call.direction == Call.Direction.OUTBOUND
        rest.redirect(account, call.twilio_call_sid, twiml.lines_busy(outbound=outbound))
    except (TwilioRestException, RequestException) as exc:
        # The stream closes at its deadline and the TwiML after <Connect> hangs up: the caller
        # is not left on an open line, only without the words.
        log.warning(
            "Twilio redirect to the busy message failed",
            extra={"call_id": call_id, "error": str(exc)[:300]},
        )


def request_lines_busy(call_id: int) -> None:
    enqueue(say_lines_busy, call_id, job_id=f"busy-{call_id}", queue="telephony")


def dial_call(call_id: int) -> None:
    """Dial a queued outbound call. Safe to run twice: the call is claimed (queued ->
    initiated) before Twilio is asked, so a second run finds it taken and does nothing."""
    call = Call.objects.select_related("agent", "tenant").filter(pk=call_id).first()
    if call is None or call.direction != Call.Direction.OUTBOUND:
        return
    if not call.apply_status(CallStatus.INITIATED, source="dial job"):
        return  # dialled already, or ended before its turn
    number = (
        PhoneNumber.objects.select_related("account")
        .filter(number=call.from_number, tenant_id=call.tenant_id)
        .first()
    )
    if number is None:
        _dial_failed(call, f"{call.from_number} is not one of the tenant's numbers")
        return
    plan = dialing.plan_for(call)
    if plan.refused:
        _dial_failed(call, plan.refused, outcome=plan.outcome)
        return
    if not admission.admit(call, at="dial"):
        # A campaign's attempt waits for a line before its call exists (campaigns.dialer);
        # a call placed on its own (the API, the admin) is refused, saying why.
        cap = admission.tenant_cap(call.tenant)
        log.warning("outbound call %s not placed: all %d lines busy", call.pk, cap)
        admission.refuse(call.pk, reason=admission.TENANT_CAP, status=CallStatus.FAILED, cap=cap)
        return
    account = number.account
    Call.objects.filter(pk=call.pk).update(twilio_account_sid=account.account_sid)
    verdict = call.agent is not None and (
        call.agent.outbound_first_speaker == FirstSpeaker.MACHINE_VERDICT
    )
    # A voicemail is left after the machine's greeting ends; without one, hang up at once.
    detection = ""
    if verdict:
        detection = "DetectMessageEnd" if call.agent.voicemail_message else "Enable"
    if plan.machine_detection is not None:
        detection = plan.machine_detection
    try:
        sid = rest.dial(
            account,
            to=call.to_number,
            from_=call.from_number,
            url=public_url(f"/telephony/twilio/outbound/{call.pk}/"),
            status_callback=public_url("/telephony/twilio/status/"),
            machine_detection=detection,
            amd_callback=public_url("/telephony/twilio/amd/") if detection else "",
            ring_seconds=plan.ring_seconds,
        )
    except TwilioRestException as exc:
        _dial_failed(call, f"Twilio refused the call: {exc.code} {exc.msg}"[:300])
        return
    except Exception as exc:
        # Not retried: whether Twilio placed the call is unknown, and a second call to the
        # same person is worse than none (a campaign makes a new attempt).
        _dial_failed(call, f"{type(exc).__name__}: {exc}"[:300])
        raise
    # Twilio's TwiML request may have saved the sid first (the outbound view): same value.
    Call.objects.filter(pk=call.pk, twilio_call_sid__isnull=True).update(twilio_call_sid=sid)


def _dial_failed(call: Call, reason: str, outcome: str = DIAL_FAILED) -> None:
    log.warning("outbound call %s not placed: %s", call.pk, reason, extra={"call_id": call.pk})
    finish_call(
        call.pk,
        status=CallStatus.FAILED,
        outcome=outcome,
        source="dial job",
        event_data={"reason": reason},
    )


def request_dial(call_id: int) -> None:
    """Dial the queued outbound call once the current transaction commits."""
    enqueue(dial_call, call_id, job_id=f"dial-{call_id}", queue="telephony")
