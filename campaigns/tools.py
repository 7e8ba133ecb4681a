"""The agent's tools on a campaign call: record how it went, schedule the callback the callee
asks for, transfer them to a person. (Putting the number on the do-not-call list is the
do_not_call tool's.) Each finds its campaign and attempt from the call (Attempt.call); on a
call that is not a campaign's, each says it cannot.

The intents and matchers let the offline scripted brain reach each tool from what a
recogniser writes down ("I'm interested.", "Sorry, wrong number.", "Call me back tomorrow at
3 p.m.", "Can I speak to a real person?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from calls.tools import ToolContext, ToolResult, tool
from campaigns import callbacks, transfer
from campaigns.models import Attempt
from campaigns.spoken_time import UnknownTime, parse_spoken_time

NOT_A_CAMPAIGN_CALL = "This call is not part of a campaign."
OUTCOMES = {
    "interested": "Great, I've noted that you're interested. Thank you!",
    "not_interested": "Understood, thank you for your time. Goodbye.",
    "wrong_person": "Sorry to have bothered you. Goodbye.",
    "callback": "Of course. When would suit you for a call back?",
}
ENDS_CALL = {"not_interested", "wrong_person"}


@dataclass
class CampaignCall:
    """Which attempt this call is (looked up once per call)."""

    attempt_id: int | None = None
    looked_up: bool = False


def _attempt_id(ctx: ToolContext) -> int | None:
    state = ctx.state(CampaignCall)
    if not state.looked_up:
        state.attempt_id = (
            Attempt.objects.filter(call_id=ctx.call_id, campaign__tenant_id=ctx.tenant_id)
            .values_list("pk", flat=True)
            .first()
        )
        state.looked_up = True
    return state.attempt_id


def _now():
    return timezone.now()  # one seam for tests to set the clock


def _not_a_campaign_call() -> ToolResult:
    return ToolResult(
        {"error": NOT_A_CAMPAIGN_CALL}, say="Sorry, I can't record that on this call."
    )


# ---------------------------------------------------------------- record_outcome

_NEGATED = re.compile(r"\b(not|n't|never|no longer)\s+(really\s+|very\s+|at all\s+)?interested\b")
_WRONG = re.compile(
    r"\bwrong (number|person|guy|house)\b|\bno ?one (here )?(by|of|called) that name\b"
    r"|\b(doesn'?t|does not) live here\b|\bthat'?s not me\b|\byou have the wrong\b"
)
_INTERESTED = re.compile(
    r"\binterested\b|\bsounds (good|great|interesting)\b|\bsign me up\b|\btell me more\b"
)


def outcome_said(text: str) -> str | None:
    """The outcome a sentence states, if any (also used by the after-call rules)."""
    text = text.lower().replace("\u2019", "'")
    if _WRONG.search(text):
        return "wrong_person"
    if _NEGATED.search(text) or re.search(r"\bnot for (me|us)\b|\bno interest\b", text):
        return "not_interested"
    if _INTERESTED.search(text):
        return "interested"
    return None


def _outcome_matcher(text: str, ctx: ToolContext) -> dict[str, Any] | None:
    outcome = outcome_said(text)
    return None if outcome is None else {"outcome": outcome}


@database_sync_to_async
def _record_outcome(ctx: ToolContext, outcome: str) -> bool:
    # The notes stay in the call's tool_call event, where the after-call fill reads them.
    attempt_id = _attempt_id(ctx)
    if attempt_id is None:
        return False
    Attempt.objects.filter(pk=attempt_id).update(outcome=outcome, updated_at=timezone.now())
    return True


@tool(
    "record_outcome",
    "Record how the call went: the person is interested, not interested, wants a call back "
    "at another time, or is the wrong person.",
    {
        "type": "object",
        "properties": {
            "outcome": {"type": "string", "enum": sorted(OUTCOMES)},
            "notes": {"type": "string", "description": "Anything worth noting, briefly."},
        },
        "required": ["outcome"],
        "additionalProperties": False,
    },
    matcher=_outcome_matcher,
)
async def record_outcome(ctx: ToolContext, outcome: str, notes: str = "") -> ToolResult:
    if not await _record_outcome(ctx, outcome):
        return _not_a_campaign_call()
    data = {"recorded": True, "outcome": outcome, **({"notes": notes} if notes else {})}
    return ToolResult(data, say=OUTCOMES[outcome], end_call=outcome in ENDS_CALL)


# ---------------------------------------------------------------- schedule_callback

_CALL_BACK = re.compile(
    r"\b(?:call|ring|phone|try|reach)\s+(?:me|us)(?:\s+(?:back|again))?\b(?P<when>.*)"
    r"|\bcall\s+back\b(?P<when2>.*)"
    r"|\b(?:a\s+)?(?:better|good)\s+time\s+(?:would\s+be|is)\b(?P<when3>.*)"
)
_REFUSAL = re.compile(r"\b(don'?t|do not|never|stop|no more)\b.*\b(call|ring|phone)")


def _callback_matcher(text: str, ctx: ToolContext) -> dict[str, Any] | None:
    said = text.lower().replace("\u2019", "'")
    if _REFUSAL.search(said):
        return None  # "don't call me again" is the do-not-call tool's
    found = _CALL_BACK.search(said)
    if found is None:
        return None
    when = found["when"] or found["when2"] or found["when3"] or ""
    return {"when": when.strip(" .?!,")}


@database_sync_to_async
def _schedule(ctx: ToolContext, when: str) -> ToolResult:
    attempt_id = _attempt_id(ctx)
    if attempt_id is None:
        return _not_a_campaign_call()
    attempt = Attempt.objects.select_related("contact__tenant").get(pk=attempt_id)
    zone = callbacks.contact_zone(attempt.contact)
    now = _now()
    try:
        wanted = parse_spoken_time(when, now, zone)
    except UnknownTime:
        return ToolResult(
            {"scheduled": False, "error": f"not a time I understand: {when!r}"},
            say="Of course. What day and time would suit you?",
        )
    try:
        callback = callbacks.schedule_callback(attempt_id, wanted.at, now=now)
    except callbacks.CallbackRefused as exc:
        return ToolResult(
            {"scheduled": False, "error": str(exc)},
            say="I'm sorry, we can't call back then. Is there an earlier time?",
        )
    local = callback.due_at.astimezone(zone)
    spoken = _spoken(local, now.astimezone(zone))
    moved = local != wanted.at.astimezone(zone) and wanted.hour_given
    return ToolResult(
        {
            "scheduled": True,
            "callback_at": local.isoformat(),
            "time_zone": str(zone),
            "moved_into_calling_hours": moved,
        },
        say=(
            f"The soonest we can call is {spoken}." if moved else f"Sure, we'll call you {spoken}."
        )
        + " Thank you, goodbye.",
        end_call=True,
    )


def _spoken(at, now) -> str:
    clock = at.strftime("%I:%M %p").lstrip("0").replace(":00", "")
    if at.date() == now.date():
        return f"today at {clock}"
    if (at.date() - now.date()).days == 1:
        return f"tomorrow at {clock}"
    return f"on {at:%A} at {clock}"


@tool(
    "schedule_callback",
    "Schedule a call back at the time the person asks for, in their words ('tomorrow at "
    "3 pm', 'Monday morning', 'in two hours') or as an ISO 8601 local time.",
    {
        "type": "object",
        "properties": {"when": {"type": "string", "description": "When to call back."}},
        "required": ["when"],
        "additionalProperties": False,
    },
    matcher=_callback_matcher,
)
async def schedule_callback(ctx: ToolContext, when: str) -> ToolResult:
    return await _schedule(ctx, when)


# ---------------------------------------------------------------- transfer_to_human

_PERSON = r"(?:a |an |the )?(?:real |live |actual )?(?:person|human|someone|somebody|agent|representative|manager|operator|people)"  # noqa: E501
_TRANSFER = re.compile(
    rf"\b(?:speak|talk|chat|transfer|put|connect)\b.*\b{_PERSON}\b"
    r"|\b(?:real|live|actual) (?:person|human)\b"
)


def _transfer_matcher(text: str, ctx: ToolContext) -> dict[str, Any] | None:
    return {} if _TRANSFER.search(text.lower()) else None


@database_sync_to_async
def _transfer(ctx: ToolContext) -> ToolResult:
    attempt_id = _attempt_id(ctx)
    if attempt_id is None:
        return _not_a_campaign_call()
    try:
        number = transfer.start_transfer(attempt_id)
    except transfer.NoTransferNumber as exc:
        return ToolResult(
            {"transferred": False, "error": str(exc)},
            say="I'm sorry, I can't transfer you to a person on this call.",
        )
    return ToolResult({"transferred": True, "to": number}, say="Connecting you now.")


@tool(
    "transfer_to_human",
    "Transfer the call to a person when the callee asks to speak to someone.",
    {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why, briefly."}},
        "additionalProperties": False,
    },
    matcher=_transfer_matcher,
)
async def transfer_to_human(ctx: ToolContext, reason: str = "") -> ToolResult:
    return await _transfer(ctx)
