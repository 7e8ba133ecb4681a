"""Do-not-call: who may never be dialled, enforced on every dial, and honoured the moment a
person asks during a call.

A number may not be dialled for a tenant when it is on the tenant's list, on the global list
(tenant empty), or belongs to one of the tenant's contacts who opted out. `honour_do_not_call`
is a telephony.dialing check, so every path that dials (a campaign, the API, the admin) is
refused there; the dialer also asks `is_callable` / `uncallable` first, to skip such attempts
before claiming them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from channels.db import database_sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from calls.models import Call, Turn
from calls.signals import call_ended
from calls.tools import ToolContext, ToolResult, tool
from campaigns.contacts import ContactError, normalize_phone
from campaigns.models import Contact, DoNotCall
from telephony.dialing import DialPlan, before_dial

log = logging.getLogger(__name__)

OUTCOME = "do_not_call"
TOLD_REMOVED = "I've taken your number off our list; you won't be called again. Goodbye."
TOLD_HIDDEN = (
    "I'm sorry, I can't see the number you're calling from, so I can't take it off our list "
    "here. Please call us from that number. Goodbye."
)


def _listed(tenant_id: int) -> Q:
    return Q(tenant_id=tenant_id) | Q(tenant__isnull=True)


def on_a_list(tenant_id: int, phone: str) -> bool:
    """Whether `phone` (E.164) is on the tenant's or the global do-not-call list."""
    return DoNotCall.objects.filter(_listed(tenant_id), phone=phone).exists()


def blocked_reason(tenant_id: int, phone: str) -> str | None:
    """Why `phone` (E.164) may not be dialled for the tenant, or None when it may."""
    lists = set(
        DoNotCall.objects.filter(_listed(tenant_id), phone=phone).values_list(
            "tenant_id", flat=True
        )
    )
    if tenant_id in lists:
        return "on the tenant's do-not-call list"
    if None in lists:
        return "on the global do-not-call list"
    if Contact.objects.filter(tenant_id=tenant_id, phone=phone, opted_out=True).exists():
        return "the contact opted out"
    return None


def is_callable(tenant_id: int, phone: str) -> bool:
    """May the tenant dial `phone` (E.164)? Two indexed look-ups."""
    return blocked_reason(tenant_id, phone) is None


def uncallable(tenant_id: int, phones: Iterable[str]) -> set[str]:
    """Those of `phones` (E.164) the tenant may not dial: the dialer's batch question."""
    wanted = set(phones)
    if not wanted:
        return set()
    listed = DoNotCall.objects.filter(_listed(tenant_id), phone__in=wanted)
    opted_out = Contact.objects.filter(tenant_id=tenant_id, phone__in=wanted, opted_out=True)
    return set(listed.values_list("phone", flat=True)) | set(
        opted_out.values_list("phone", flat=True)
    )


@before_dial
def honour_do_not_call(call) -> DialPlan | None:
    """Refuse a dial to a number the call's tenant may not call (telephony.dialing)."""
    reason = blocked_reason(call.tenant_id, call.to_number)
    if reason is None:
        return None
    return DialPlan(refused=reason, outcome=OUTCOME)


def add_number(
    tenant_id: int | None,
    phone: str,
    *,
    source: str,
    call_id: int | None = None,
    note: str = "",
) -> tuple[DoNotCall, bool]:
    """Put `phone` (E.164) on the tenant's list (the global one for None), and mark the
    tenant's contact with that number opted out. Returns (entry, created); an entry that is
    there already is kept as it is. Safe to run twice, and twice at once."""
    with transaction.atomic():
        entry, created = _get_or_create(tenant_id, phone, source, call_id, note)
        if tenant_id is not None:
            opt_out_contacts(tenant_id, [phone])
    if created:
        log.info(
            "number put on the do-not-call list",
            extra={"tenant_id": tenant_id, "source": source, "call_id": call_id},
        )
    return entry, created


def add_numbers(
    tenant_id: int | None, numbers: dict[str, str], *, source: str, batch_size: int = 1000
) -> int:
    """Put each of `numbers` ({E.164: note}) on the list, in the caller's transaction; returns
    how many were new. The tenant's contacts with those numbers are marked opted out."""
    phones = list(numbers)
    added = 0
    for start in range(0, len(phones), batch_size):
        batch = phones[start : start + batch_size]
        there = set(
            DoNotCall.objects.filter(tenant_id=tenant_id, phone__in=batch).values_list(
                "phone", flat=True
            )
        )
        new = [
            DoNotCall(tenant_id=tenant_id, phone=p, source=source, note=numbers[p][:300])
            for p in batch
            if p not in there
        ]
        DoNotCall.objects.bulk_create(new, ignore_conflicts=True)
        added += len(new)
        if tenant_id is not None:
            opt_out_contacts(tenant_id, batch)
    return added


def _get_or_create(tenant_id, phone, source, call_id, note) -> tuple[DoNotCall, bool]:
    existing = DoNotCall.objects.filter(tenant_id=tenant_id, phone=phone).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():  # a savepoint: the same number added twice at once
            return DoNotCall.objects.create(
                tenant_id=tenant_id, phone=phone, source=source, call_id=call_id, note=note
            ), True
    except IntegrityError:
        return DoNotCall.objects.get(tenant_id=tenant_id, phone=phone), False


def opt_out_contacts(tenant_id: int, phones: list[str]) -> None:
    """Mark the tenant's contacts with these numbers opted out (never called or texted)."""
    Contact.objects.filter(tenant_id=tenant_id, phone__in=phones, opted_out=False).update(
        opted_out=True, opted_out_at=timezone.now(), updated_at=timezone.now()
    )


# ---------------------------------------------------------------- in the call

_INTENTS = [
    r"\b(don'?t|do not|never)\s+(ever\s+)?(call|ring|phone|contact)\s+(me|us|this number)\s+"
    r"(ever\s+)?(again|any ?more|no more)\b",
    r"\bstop\s+(calling|ringing|phoning|contacting)\s+(me|us|this number)\b",
    r"\b(take|remove|delete|get)\s+(me|us|my (phone )?number|this number)\s+(off|from)\s+"
    r"(of\s+)?(your|the|this)\s+([\w-]+\s+){0,3}list\b",
    r"\bremove\s+my\s+(phone\s+)?number\b",
    r"\b(put|add)\s+(me|my (phone )?number|this number)\s+(on|to)\s+(your|the)\s+"
    r"do[- ]?not[- ]?call\s+list\b",
    r"\bopt\s+(me\s+)?out\b",
]


@tool(
    "do_not_call",
    "Put the person's number on the do-not-call list at once and end the call politely. Use "
    "whenever they ask not to be called again, to be taken off the list, or to stop calling.",
    {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "description": "What the person said, briefly."}
        },
        "additionalProperties": False,
    },
    intents=_INTENTS,
)
async def do_not_call(ctx: ToolContext, reason: str = "") -> ToolResult:
    """The person on the line (the callee of an outbound call, the caller of an inbound one)
    asked never to be called again: their number is listed before the agent says so."""
    try:
        phone = normalize_phone(ctx.caller)
    except ContactError:
        return ToolResult({"do_not_call": False, "error": "no caller number"}, TOLD_HIDDEN, True)
    entry, created = await database_sync_to_async(add_number)(
        ctx.tenant_id, phone, source=DoNotCall.Source.CALL, call_id=ctx.call_id, note=reason[:300]
    )
    return ToolResult(
        {"do_not_call": True, "phone": phone, "already_listed": not created},
        say=TOLD_REMOVED,
        end_call=True,
    )


# ---------------------------------------------------------------- after the call

_ASKED = [re.compile(p, re.IGNORECASE) for p in _INTENTS]


def honour_requests_in_transcript(call_id: int) -> bool:
    """List the other party's number if they asked not to be called in the call's transcript,
    whether or not the agent used the tool (an agent without it, or a model or scripted brain
    that picked another tool for the same sentence): the request is honoured either way.
    Returns whether the number was newly listed. Safe to run twice."""
    call = (
        Call.objects.filter(pk=call_id)
        .only("tenant_id", "direction", "from_number", "to_number")
        .first()
    )
    if call is None:
        return False
    said = Turn.objects.filter(call_id=call_id, speaker=Turn.Speaker.CALLER).values_list(
        "text", flat=True
    )
    asked = next((text for text in said if any(p.search(text) for p in _ASKED)), None)
    if asked is None:
        return False
    other = call.from_number if call.direction == Call.Direction.INBOUND else call.to_number
    try:
        phone = normalize_phone(other)
    except ContactError:
        return False
    _, created = add_number(
        call.tenant_id, phone, source=DoNotCall.Source.CALL, call_id=call_id, note=asked[:300]
    )
    return created


def _on_call_ended(sender, call_id: int, **kwargs) -> None:
    honour_requests_in_transcript(call_id)


call_ended.connect(_on_call_ended, dispatch_uid="campaigns.do_not_call.transcript")
