"""Texts people send to a tenant's number: Twilio's opt-out keywords, honoured per tenant.

STOP (and its synonyms) records an opt-out: nothing more is sent to that number from the
tenant (texts.send_text checks before every attempt). START (and synonyms) lifts it. HELP says
who is texting. The answer is TwiML built with the twilio library.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from twilio.twiml.messaging_response import MessagingResponse

from telephony.models import PhoneNumber, TextOptOut, TwilioAccount, normalize_e164

log = logging.getLogger(__name__)

# Twilio's own keyword lists (Advanced Opt-Out defaults).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}


def is_opted_out(tenant_id: int, phone: str) -> bool:
    return TextOptOut.objects.filter(tenant_id=tenant_id, phone=phone, opted_out=True).exists()


def record_opt_out(tenant_id: int, phone: str, *, keyword: str, opted_out: bool = True) -> None:
    """Record that `phone` opted out of (or, with opted_out=False, back into) the tenant's
    texts. Safe to repeat."""
    TextOptOut.objects.update_or_create(
        tenant_id=tenant_id, phone=phone, defaults={"opted_out": opted_out, "keyword": keyword}
    )


def keyword_of(body: str) -> str:
    # Twilio matches a keyword only as the whole message, in any case, spaces aside.
    return body.strip().rstrip(".!").upper()


def answer_text(account: TwilioAccount, params) -> str:
    """Handle a text sent to one of the account's numbers; returns the TwiML reply."""
    response = MessagingResponse()
    number = (
        PhoneNumber.objects.select_related("tenant")
        .filter(number=params.get("To", ""), account=account)
        .first()
    )
    try:
        sender = normalize_e164(params.get("From", ""))
    except ValidationError:
        sender = ""
    if number is None or not sender:
        log.warning(
            "inbound text ignored: not to one of the account's numbers, or from no number",
            extra={"account_sid": account.account_sid, "message_sid": params.get("MessageSid")},
        )
        return str(response)
    tenant = number.tenant
    word = keyword_of(params.get("Body", ""))
    if word in STOP_WORDS:
        record_opt_out(tenant.pk, sender, keyword=word)
        log.info("text opt-out recorded", extra={"tenant_id": tenant.pk})
        # No reply: Twilio confirms the opt-out itself, and blocks messages to the number.
    elif word in START_WORDS:
        record_opt_out(tenant.pk, sender, keyword=word, opted_out=False)
        log.info("text opt-in recorded", extra={"tenant_id": tenant.pk})
        response.message(f"{tenant.name}: you will get texts about your orders again.")
    elif word in HELP_WORDS:
        response.message(
            f"{tenant.name}: texts about your orders. Reply STOP to stop them, START to "
            f"start again. Call {number.number} to talk to us."
        )
    return str(response)
