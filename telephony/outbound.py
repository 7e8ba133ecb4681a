"""Calls we place: dialling a queued Call, answering Twilio when the callee picks up, and the
answering-machine verdict. (Opening the Call itself is calls.actions.open_outbound_call.)"""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import QueryDict

from calls.actions import open_outbound_call
from calls.control import send_control_sync
from calls.models import Call, CallEvent
from telephony import twiml
from telephony.jobs import request_dial
from telephony.models import TwilioAccount
from telephony.signals import machine_answered

log = logging.getLogger(__name__)

AMD_VERDICTS = {
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
}


def place_call(*, agent, to_number: str, from_number: str, variables=None) -> Call:
    """Open an outbound call (checked: numbers, variables) and dial it once that commits."""
    with transaction.atomic():
        call = open_outbound_call(
            agent=agent, to_number=to_number, from_number=from_number, variables=variables
        )
        request_dial(call.pk)
    return call


def answer_outbound(account: TwilioAccount, call_id: int, params: QueryDict) -> str:
    """The TwiML for an outbound call the callee answered: connect it to the media stream."""
    call_sid = params.get("CallSid", "")
    call = Call.objects.filter(
        pk=call_id, tenant_id=account.tenant_id, direction=Call.Direction.OUTBOUND
    ).first()
    if call is None or call.is_final or not call_sid:
        log.info("outbound TwiML for an unknown or ended call", extra={"call_id": call_id})
        return twiml.hang_up()
    if call.twilio_call_sid != call_sid:
        # The dial job may not have saved the sid yet; never overwrite another one.
        claimed = Call.objects.filter(pk=call.pk, twilio_call_sid__isnull=True).update(
            twilio_call_sid=call_sid
        )
        if not claimed:
            log.warning("outbound TwiML for another CallSid", extra={"call_id": call_id})
            return twiml.hang_up()
    return twiml.connect_stream(call.pk, call_sid, account.account_sid)


def record_amd(account: TwilioAccount, params: QueryDict) -> Call | None:
    """Record the answering-machine verdict once, and pass it to the live session."""
    call_sid, answered_by = params.get("CallSid", ""), params.get("AnsweredBy", "")
    if answered_by not in AMD_VERDICTS:
        log.warning("AMD callback with an unknown verdict", extra={"answered_by": answered_by})
        return None
    with transaction.atomic():
        call = (
            Call.objects.select_for_update()
            .filter(twilio_call_sid=call_sid, tenant_id=account.tenant_id)
            .first()
        )
        if call is None:
            log.info("AMD callback for an unknown call", extra={"call_sid": call_sid})
            return None
        if CallEvent.objects.filter(call=call, kind=CallEvent.Kind.AMD).exists():
            return call  # a repeated callback
        duration = params.get("MachineDetectionDuration", "")
        CallEvent.objects.create(
            call=call,
            kind=CallEvent.Kind.AMD,
            data={"answered_by": answered_by, "detection_ms": duration},
        )
        call_id = call.pk
        transaction.on_commit(lambda: send_control_sync(call_id, "amd", answered_by=answered_by))
        transaction.on_commit(
            lambda: machine_answered.send(sender=Call, call_id=call_id, answered_by=answered_by)
        )
    return call
