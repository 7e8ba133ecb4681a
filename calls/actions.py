"""Actions on calls: opening one (inbound or outbound) and finishing one.

Each is atomic and is the one way its change is made: the voice webhook, the dialer, the
recorder and the reaper call these instead of writing status and history by hand. What other
apps react to (`calls.signals.call_ended`) is sent once the transaction commits.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls import variables as call_variables
from calls.models import Agent, Call, CallEvent, CallStatus
from calls.signals import call_ended

log = logging.getLogger(__name__)


def _history(status: str, source: str) -> list[dict[str, str]]:
    return [{"status": status, "at": timezone.now().isoformat(), "source": source}]


def open_inbound_call(
    *,
    tenant: Any,
    agent: Agent,
    call_sid: str,
    account_sid: str,
    from_number: str,
    to_number: str,
) -> Call:
    """The Call for an inbound CallSid, created ringing on the first webhook. Idempotent on
    the CallSid: a repeated webhook (even two at once) gets the same Call. The first webhook,
    by far the usual one, costs one INSERT and no read."""
    try:
        with transaction.atomic():
            return Call.objects.create(
                tenant=tenant,
                agent=agent,
                direction=Call.Direction.INBOUND,
                from_number=from_number,
                to_number=to_number,
                twilio_call_sid=call_sid,
                twilio_account_sid=account_sid,
                status=CallStatus.RINGING,
                status_history=_history(CallStatus.RINGING, "voice webhook"),
            )
    except IntegrityError:  # the same webhook again, or twice at once
        existing = Call.objects.filter(twilio_call_sid=call_sid).first()
        if existing is None:
            raise
        return existing


def _e164(value: str, field: str) -> str:
    # phonenumbers directly: calls does not import telephony (the arrows point the other way).
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError({field: f"{value!r} is not a phone number: {exc}"}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({field: f"{value!r} is not a valid phone number"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def open_outbound_call(
    *,
    agent: Agent,
    to_number: str,
    from_number: str,
    variables: dict[str, Any] | None = None,
    tenant: Any = None,
) -> Call:
    """A queued outbound Call from `from_number` (one of the tenant's numbers) to `to_number`,
    with the agent's texts checked against `variables`. Nothing is dialled here: the carrier
    side does that (telephony.jobs.request_dial) once this has committed.

    ValidationError for a bad number, an agent of another tenant, or variables the agent's
    texts need and the call does not have (named, with the agent)."""
    tenant = tenant or agent.tenant
    if agent.tenant_id != tenant.pk:
        raise ValidationError({"agent": "This agent belongs to another tenant."})
    try:
        values = call_variables.validate_values(variables or {})
    except call_variables.TemplateError as exc:
        raise ValidationError({"variables": str(exc)}) from None
    call = Call(
        tenant=tenant,
        agent=agent,
        direction=Call.Direction.OUTBOUND,
        from_number=_e164(from_number, "from_number"),
        to_number=_e164(to_number, "to_number"),
        status=CallStatus.QUEUED,
        status_history=_history(CallStatus.QUEUED, "open_outbound_call"),
        variables=values,
    )
    try:
        texts = [getattr(agent, name) for name in call_variables.RENDERED_FIELDS]
        call_variables.check(texts, call_variables.for_call(call))
    except (call_variables.TemplateError, call_variables.MissingVariables) as exc:
        raise ValidationError(
            {"variables": f"agent {agent.name!r} cannot place this call: {exc}"}
        ) from None
    call.save()
    return call


def finish_call(
    call_id: int,
    *,
    status: str = CallStatus.COMPLETED,
    outcome: str,
    source: str,
    duration: int | None = None,
    at: datetime | None = None,
    event_data: dict[str, Any] | None = None,
    ended_event: bool = True,
) -> bool:
    """End a call: its outcome (unless it has one), an "ended" event (unless it has one, or
    `ended_event` is False: the live session writes its own), and `status` (unless it is
    final already; see Call.apply_status). Sends `call_ended` after the commit, once per
    call: when this gives the call its outcome. Returns whether it did."""
    with transaction.atomic():
        # The columns this reads (apply_status reads its own): every call's end comes this way.
        call = (
            Call.objects.select_for_update()
            .only("outcome", "status", "direction")
            .filter(pk=call_id)
            .first()
        )
        if call is None:
            return False
        first = not call.outcome
        if first:
            call.outcome = outcome or status
            call.save(update_fields=["outcome", "updated_at"])
        if (
            ended_event
            and not CallEvent.objects.filter(call=call, kind=CallEvent.Kind.ENDED).exists()
        ):
            data = {"outcome": call.outcome, **(event_data or {})}
            CallEvent.objects.create(call=call, kind=CallEvent.Kind.ENDED, data=data)
        call.apply_status(status, at=at, source=source, duration=duration)
        if first:
            sent = {
                "call_id": call.pk,
                "outcome": call.outcome,
                "status": call.status,
                "direction": call.direction,
            }
            transaction.on_commit(lambda: _send_call_ended(**sent))
    return first


def _send_call_ended(**kwargs: Any) -> None:
    # One app's failing receiver must not stop the others, nor the caller's after-commit work.
    for receiver, result in call_ended.send_robust(sender=Call, **kwargs):
        if isinstance(result, Exception):
            log.error(
                "call_ended receiver %s failed",
                getattr(receiver, "__qualname__", receiver),
                exc_info=result,
                extra={"call_id": kwargs["call_id"]},
            )
