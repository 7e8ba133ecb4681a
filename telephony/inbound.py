"""What happens when Twilio tells us of a call: answering it and following its status."""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime

from django.core.exceptions import ValidationError
from django.http import QueryDict

from calls import admission
from calls.actions import finish_call, open_inbound_call
from calls.models import FINAL_STATUSES, Call, CallStatus
from telephony import twiml
from telephony.models import PhoneNumber, TwilioAccount, normalize_e164

log = logging.getLogger(__name__)


def _e164(value: str) -> str:
    try:
        return normalize_e164(value)
    except ValidationError:
        return value


def answer_call(account: TwilioAccount, params: QueryDict) -> str:
    """The TwiML for a call Twilio delivers to one of `account`'s numbers.

    Records the Call first (the database is the source of truth), then gives it one of its
    tenant's lines and connects it to the media stream; with every line busy, the caller hears
    so and the Call ends as "lines_busy". A repeated webhook for the same CallSid reuses its
    Call. A number no active tenant answers on gets a polite spoken goodbye, not an error.
    """
    call_sid = params.get("CallSid", "")
    # A burst of calls is a burst of these webhooks: each query reads only the columns it needs
    # (compiling the SQL of whole rows was most of the webhook's CPU).
    existing = (
        Call.objects.filter(twilio_call_sid=call_sid).only("tenant_id", "status", "outcome").first()
        if call_sid
        else None
    )
    if existing is not None:
        if existing.tenant_id != account.tenant_id:
            return twiml.not_in_service()
        if existing.is_final:
            busy = existing.outcome == admission.LINES_BUSY
            return twiml.lines_busy() if busy else twiml.not_in_service()
        return twiml.connect_stream(existing.pk, call_sid, account.account_sid)

    to_number, from_number = _e164(params.get("To", "")), _e164(params.get("From", ""))
    number = (
        PhoneNumber.objects.select_related("agent", "tenant")
        .only("agent__id", "tenant__max_concurrent_calls")
        .filter(number=to_number, account=account, tenant__active=True)
        .first()
    )
    if number is None or number.agent is None or not call_sid:
        log.info("call to a number no agent answers", extra={"to": to_number, "call_sid": call_sid})
        return twiml.not_in_service()
    call = open_inbound_call(
        tenant=number.tenant,
        agent=number.agent,
        call_sid=call_sid,
        account_sid=account.account_sid,
        from_number=from_number,
        to_number=to_number,
    )
    if call.tenant_id != account.tenant_id:
        return twiml.not_in_service()
    if not admission.admit(call, at="voice_webhook"):
        # Recorded before the caller hears it; Twilio's "completed" callback changes nothing.
        cap = admission.tenant_cap(call.tenant)
        admission.refuse(call.pk, reason=admission.TENANT_CAP, cap=cap)
        return twiml.lines_busy()
    return twiml.connect_stream(call.pk, call_sid, account.account_sid)


def record_status(account: TwilioAccount, params: QueryDict) -> Call | None:
    """Apply a status callback. Repeats and late arrivals change nothing (see apply_status).
    Returns the Call, or None when the CallSid is unknown."""
    call_sid = params.get("CallSid", "")
    call = Call.objects.filter(twilio_call_sid=call_sid, tenant=account.tenant).first()
    if call is None:
        log.info("status callback for an unknown call", extra={"call_sid": call_sid})
        return None
    status = params.get("CallStatus", "")
    if status not in CallStatus.values:
        log.warning(
            "status callback with an unknown status", extra={"status": status, "call_sid": call_sid}
        )
        return call
    at = None
    if params.get("Timestamp"):
        try:
            at = parsedate_to_datetime(params["Timestamp"])
        except (TypeError, ValueError):
            at = None
    duration = params.get("CallDuration")
    seconds = int(duration) if duration and duration.isdigit() else None
    if status in FINAL_STATUSES and not call.stream_sid:
        # No session holds the call (busy, no answer, hung up while ringing): this callback
        # is its end. A call with a stream is finished by its session (or the reaper).
        finish_call(
            call.pk,
            status=status,
            outcome=status,
            source="status callback",
            at=at,
            duration=seconds,
        )
        call.refresh_from_db()
        return call
    call.apply_status(status, at=at, source="status callback", duration=seconds)
    return call
