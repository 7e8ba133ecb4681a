"""After a campaign call: the campaign's outcome fields filled from the call, and the tenant's
webhook told ("campaign.call_completed").

`fill_outcome` is a job (queued by campaigns.receivers when the call ends, id
`outcome-<attempt id>`). It fills the fields once, with the agent's language model when one is
configured (campaigns.outcome_model), else, or when the model fails, with offline rules: what
the in-call tools recorded (record_outcome, schedule_callback, the transfer, do-not-call), then
keywords in what the callee said. The fields are saved on the attempt (outcome_data) before the
delivery is written, and the delivery is keyed on the attempt, so a second run sends nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from calls.models import CallEvent, Turn
from campaigns import outcome_model
from campaigns.callbacks import contact_zone
from campaigns.models import Attempt, DoNotCall
from campaigns.tools import outcome_said
from campaigns.transfer import TRANSFER_EVENT
from webhooks.delivery import deliver

log = logging.getLogger(__name__)

EVENT = "campaign.call_completed"
NOTES_LIMIT = 500


def outcome_key(attempt_id: int) -> str:
    return f"attempt-{attempt_id}-outcome"


def fill_outcome(attempt_id: int) -> None:
    """Fill the attempt's outcome fields (once) and deliver them to the tenant's webhook."""
    attempt = (
        Attempt.objects.select_related("campaign__agent", "contact__tenant", "call")
        .filter(pk=attempt_id)
        .first()
    )
    if attempt is None or attempt.call is None:
        return
    if not attempt.outcome_data:
        filled = _fill(attempt)
        with transaction.atomic():
            locked = Attempt.objects.select_for_update().get(pk=attempt_id)
            if not locked.outcome_data:  # a run alongside may have filled it first
                locked.outcome_data = filled
                locked.save(update_fields=["outcome_data", "updated_at"])
        attempt.refresh_from_db()
    deliver(attempt.campaign.tenant_id, EVENT, payload_for(attempt), key=outcome_key(attempt.pk))


def _fill(attempt: Attempt) -> dict[str, Any]:
    fields = [str(name) for name in attempt.campaign.outcome_fields or []]
    turns = Turn.objects.filter(call=attempt.call).order_by("index")
    transcript = [(s, t.strip()) for s, t in turns.values_list("speaker", "text") if t.strip()]
    values, filled_by = None, "rules"
    if fields and any(speaker == Turn.Speaker.CALLER for speaker, _ in transcript):
        llm = outcome_model.model_for(attempt.campaign.agent)
        if llm is not None:
            values = outcome_model.fill_with_model(llm, transcript, fields)
            filled_by = "model" if values is not None else "rules (the model failed)"
    if values is None:
        values = fill_with_rules(attempt, fields, transcript)
    return {"fields": values, "filled_by": filled_by}


def _tool_calls(attempt: Attempt, name: str) -> list[dict[str, Any]]:
    events = CallEvent.objects.filter(call=attempt.call, kind=CallEvent.Kind.TOOL_CALL)
    return [e.data for e in events.order_by("at", "pk") if e.data.get("name") == name]


def fill_with_rules(
    attempt: Attempt, fields: list[str], transcript: list[tuple[str, str]]
) -> dict[str, Any]:
    """The fields from what the tools recorded during the call, then from keywords in the
    callee's words. A field these rules do not know is null."""
    heard = [text for speaker, text in transcript if speaker == Turn.Speaker.CALLER]
    recorded = [
        c for c in _tool_calls(attempt, "record_outcome") if c.get("result", {}).get("recorded")
    ]
    said = [o for o in map(outcome_said, heard) if o]
    outcome = attempt.outcome or (recorded[-1]["arguments"]["outcome"] if recorded else "")
    outcome = outcome or (said[-1] if said else "")
    transfer = CallEvent.objects.filter(call=attempt.call, kind=TRANSFER_EVENT).first()
    # The do_not_call tool writes its row with the call that asked.
    refused = DoNotCall.objects.filter(call=attempt.call).exists()
    notes = [c["arguments"]["notes"] for c in recorded if c["arguments"].get("notes")]
    rules = {
        "interested": {"interested": True, "not_interested": False, "wrong_person": False}.get(
            outcome
        ),
        "callback_time": (
            attempt.callback_at.astimezone(contact_zone(attempt.contact)).isoformat()
            if attempt.callback_at
            else None
        ),
        "wrong_person": (outcome == "wrong_person") if heard else None,
        "do_not_call": refused if heard or refused else None,
        "transferred": transfer is not None and transfer.data.get("state") != "failed",
        "outcome": outcome or None,
        "notes": (" ".join(notes) or " / ".join(heard))[:NOTES_LIMIT] or None,
    }
    return {name: rules.get(name) for name in fields}


def payload_for(attempt: Attempt) -> dict[str, Any]:
    """The attempt as the tenant's systems receive it."""
    call, contact, campaign = attempt.call, attempt.contact, attempt.campaign
    data = attempt.outcome_data or {}
    return {
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "attempt": {
            "id": attempt.pk,
            "number": attempt.number,
            "result": attempt.result,
            "answered_by": attempt.answered_by,
            "outcome": attempt.outcome,
            "callback_at": attempt.callback_at.isoformat() if attempt.callback_at else None,
        },
        "contact": {
            "id": contact.pk,
            "phone": contact.phone,
            "name": contact.name,
            "variables": contact.variables,
        },
        "call": {
            "id": call.pk,
            "status": call.status,
            "outcome": call.outcome,
            "answered_at": call.answered_at.isoformat() if call.answered_at else None,
            "duration_seconds": call.duration_seconds,
        },
        "fields": data.get("fields", {}),
        "filled_by": data.get("filled_by", ""),
    }
