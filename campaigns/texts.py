"""A campaign's texts: one before the call (Campaign.text_before, when the attempt is dialled)
and one after an answered call (Campaign.text_after), each rendered from its template with the
contact's variables and sent once by telephony.texts (key `attempt-<id>-before` / `-after`),
which records its delivery status and honours STOP.

A template that cannot be rendered (a variable the contact lacks) is written as a failed text
with the reason, so staff see it in the texts list; nothing is sent.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from calls import variables as call_variables
from campaigns.do_not_call import on_a_list
from campaigns.models import Attempt
from telephony.models import Text, TextStatus
from telephony.texts import queue_text

# Machine verdicts (Twilio's AnsweredBy): nobody read the call, so nobody is texted after it.
NOT_A_PERSON = {
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
}
NO_TEXT_AFTER = {"wrong_person"}


def contact_variables(attempt: Attempt) -> dict[str, Any]:
    """What a campaign text may use: the contact's own variables, their name and first name,
    the business's name, and (after the call) the call's variables."""
    contact = attempt.contact
    values: dict[str, Any] = {
        "business_name": attempt.campaign.tenant.name,
        "name": contact.name,
        "first_name": contact.name.split()[0] if contact.name.strip() else "",
        "phone": contact.phone,
        **(contact.variables or {}),
    }
    if attempt.call is not None:
        values.update(call_variables.for_call(attempt.call))
    return values


def _queue(attempt: Attempt, template: str, which: str) -> Text | None:
    if not template.strip():
        return None
    campaign, contact = attempt.campaign, attempt.contact
    key = f"attempt-{attempt.pk}-{which}"
    reason = ""
    try:
        body = call_variables.render(template, contact_variables(attempt))
    except (call_variables.TemplateError, call_variables.MissingVariables) as exc:
        body, reason = template, f"The template cannot be filled in: {exc}"
    if contact.opted_out:
        reason = "The contact opted out."
    if reason:
        return _not_sent(attempt, key, body, reason)
    return queue_text(
        tenant_id=campaign.tenant_id,
        to=contact.phone,
        body=body,
        key=key,
        from_number=campaign.caller_id.number,
    )


def _not_sent(attempt: Attempt, key: str, body: str, reason: str) -> Text:
    status = TextStatus.SKIPPED if "opted out" in reason else TextStatus.FAILED
    defaults = {
        "to": attempt.contact.phone,
        "from_number": attempt.campaign.caller_id.number,
        "body": body,
        "status": status,
        "last_error": reason[:300],
    }
    tenant_id = attempt.campaign.tenant_id
    try:
        with transaction.atomic():
            text, _ = Text.objects.get_or_create(tenant_id=tenant_id, key=key, defaults=defaults)
    except IntegrityError:  # the same key written alongside
        text = Text.objects.get(tenant_id=tenant_id, key=key)
    return text


def _load(attempt: Attempt | int) -> Attempt:
    attempt_id = attempt if isinstance(attempt, int) else attempt.pk
    return Attempt.objects.select_related(
        "campaign__tenant", "campaign__caller_id", "contact", "call__tenant", "call__agent"
    ).get(pk=attempt_id)


def send_text_before(attempt: Attempt | int) -> Text | None:
    """Text the contact the campaign's text_before (for the dialer, when it claims or dials
    the attempt). Once per attempt however often it is asked; marks the attempt text_sent
    when the text is on its way. None when the campaign has no text before."""
    attempt = _load(attempt)
    text = _queue(attempt, attempt.campaign.text_before, "before")
    if text is not None and text.status not in (TextStatus.FAILED, TextStatus.SKIPPED):
        Attempt.objects.filter(pk=attempt.pk, text_sent=False).update(text_sent=True)
    return text


def send_text_after(attempt: Attempt | int) -> Text | None:
    """Text the contact the campaign's text_after once their call was answered by a person
    (not a machine, not the wrong person, not someone who asked to be left alone)."""
    attempt = _load(attempt)
    call = attempt.call
    if call is None or call.answered_at is None or attempt.answered_by in NOT_A_PERSON:
        return None
    if attempt.outcome in NO_TEXT_AFTER:
        return None
    if on_a_list(attempt.campaign.tenant_id, attempt.contact.phone):
        return None
    return _queue(attempt, attempt.campaign.text_after, "after")
