"""Texts (SMS) through Twilio's Messages API: written first, sent by a job, retried with backoff.

`queue_text` writes the text (one per key) and queues `send_text` on commit. The job claims the
row with a conditional update, so it sends once however often it runs; a failure Twilio calls
permanent (an invalid or unsubscribed number) fails the text at once, anything transient (a 5xx,
a timeout, a refused connection) schedules another attempt (voiceapp.retries), which
`sweep_texts` (on the schedule, voiceapp/cron.py) queues when due. Twilio's status callback then
moves the text forward (`record_status`), never backwards.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from requests import RequestException
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient

from monitoring import metrics
from telephony import rest
from telephony.models import (
    TEXT_STATUS_RANK,
    PhoneNumber,
    Text,
    TextStatus,
    TwilioAccount,
    normalize_e164,
)
from telephony.signatures import public_url
from telephony.text_replies import is_opted_out, record_opt_out
from voiceapp.jobs import enqueue
from voiceapp.retries import claim, due, retry_at

log = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/telephony/twilio/sms-status/"
TWILIO_TIMEOUT_SECONDS = 10.0  # a job must not hang on a stalled connection; it retries

# Twilio error codes that no retry will cure: the text fails at once.
UNSUBSCRIBED = 21610  # the recipient replied STOP to this sender (Twilio blocks it)
PERMANENT_CODES = {
    21211,  # invalid 'To' number
    21408,  # no permission to send to this region
    21610,
    21612,  # the 'To' cannot be reached from this 'From'
    21614,  # 'To' is not a mobile number
    21606,  # the 'From' cannot send texts
}

# Twilio's statuses as ours; an unknown one (a WhatsApp "read") is ignored.
TWILIO_STATUS = {
    "accepted": TextStatus.QUEUED,
    "scheduled": TextStatus.QUEUED,
    "queued": TextStatus.QUEUED,
    "sending": TextStatus.SENDING,
    "sent": TextStatus.SENT,
    "delivered": TextStatus.DELIVERED,
    "undelivered": TextStatus.UNDELIVERED,
    "failed": TextStatus.FAILED,
}


def queue_text(*, tenant_id: int, to: str, body: str, key: str, from_number: str = "") -> Text:
    """Write a text and send it once the current transaction commits. One text per `key` per
    tenant: asked again, it returns the first. It goes from `from_number` when that is one of
    the tenant's numbers, else from the tenant's first number. A text to someone who opted
    out is written as skipped; one that cannot be sent (a bad number, nothing to send from)
    as failed, with the reason. Neither is sent."""
    existing = Text.objects.filter(tenant_id=tenant_id, key=key).first()
    if existing is not None:
        return existing
    text = Text(
        tenant_id=tenant_id,
        key=key,
        body=body,
        to=to[:20],
        from_number=_sender(tenant_id, from_number),
        next_attempt_at=timezone.now(),
    )
    try:
        text.to = normalize_e164(to)
    except ValidationError as exc:
        text.status, text.last_error = TextStatus.FAILED, exc.messages[0][:300]
    else:
        if not text.from_number:
            text.status = TextStatus.FAILED
            text.last_error = "The tenant has no phone number to text from."
        elif is_opted_out(tenant_id, text.to):
            text.status, text.last_error = TextStatus.SKIPPED, "The recipient replied STOP."
    if text.status != TextStatus.PENDING:
        text.next_attempt_at = None
    try:
        with transaction.atomic():
            text.save()
            if text.status == TextStatus.PENDING:
                request_send(text.pk)
    except IntegrityError:  # the same key, queued at the same moment elsewhere
        return Text.objects.get(tenant_id=tenant_id, key=key)
    return text


def _sender(tenant_id: int, preferred: str) -> str:
    numbers = PhoneNumber.objects.filter(tenant_id=tenant_id)
    if preferred and numbers.filter(number=preferred).exists():
        return preferred
    return numbers.order_by("pk").values_list("number", flat=True).first() or ""


def request_send(text_id: int) -> None:
    enqueue(send_text, text_id, job_id=f"text-{text_id}", queue="telephony")


def send_text(text_id: int) -> None:
    """Hand one text to Twilio. Safe to run twice: the row is claimed (pending -> submitting)
    first, so a second run finds it taken, or not yet due, and does nothing."""
    now = timezone.now()
    if not claim(Text, text_id, now, waiting=TextStatus.PENDING, working=TextStatus.SUBMITTING):
        return
    text = Text.objects.get(pk=text_id)
    # Checked again here: the STOP may have come after the text was written.
    if is_opted_out(text.tenant_id, text.to):
        _settle(text, TextStatus.SKIPPED, "The recipient replied STOP.")
        return
    number = (
        PhoneNumber.objects.select_related("account")
        .filter(tenant_id=text.tenant_id, number=text.from_number)
        .first()
    )
    if number is None:
        _settle(text, TextStatus.FAILED, f"{text.from_number} is no longer the tenant's number.")
        return
    try:
        message = _submit(number.account, text)
    except TwilioRestException as exc:
        permanent = exc.code in PERMANENT_CODES or (400 <= exc.status < 500 and exc.status != 429)
        if exc.code == UNSUBSCRIBED:
            record_opt_out(text.tenant_id, text.to, keyword=str(exc.code))
        _attempt_failed(text, f"Twilio {exc.status} error {exc.code}: {exc.msg}", permanent, now)
        return
    except RequestException as exc:  # a timeout, a refused or dropped connection
        _attempt_failed(text, f"{type(exc).__name__}: {exc}", False, now)
        return
    except Exception as exc:
        # Unexpected: recorded and retried like any transient failure; rq logs the traceback.
        _attempt_failed(text, f"{type(exc).__name__}: {exc}", False, now)
        raise
    Text.objects.filter(pk=text.pk, status=TextStatus.SUBMITTING).update(
        status=TWILIO_STATUS.get(message.status or "", TextStatus.QUEUED),
        twilio_sid=message.sid or "",
        last_error="",
        updated_at=timezone.now(),
    )
    log.info("text sent to Twilio", extra={"text_id": text.pk, "message_sid": message.sid})


def _submit(account: TwilioAccount, text: Text):
    client = rest.client_for(account)
    client.http_client = TwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS)
    return client.messages.create(
        to=text.to,
        from_=text.from_number,
        body=text.body,
        status_callback=public_url(STATUS_CALLBACK_PATH),
    )


def _settle(text: Text, status: str, error: str) -> None:
    moved = Text.objects.filter(pk=text.pk, status=TextStatus.SUBMITTING).update(
        status=status, last_error=error[:300], updated_at=timezone.now()
    )
    metrics.text_status(status, moved)


def _attempt_failed(text: Text, error: str, permanent: bool, now: datetime) -> None:
    again = None if permanent else retry_at(text.attempts, now)
    status = TextStatus.PENDING if again else TextStatus.FAILED
    moved = Text.objects.filter(pk=text.pk, status=TextStatus.SUBMITTING).update(
        status=status,
        next_attempt_at=again,
        last_error=error[:300],
        updated_at=timezone.now(),
    )
    metrics.text_status(status, moved)
    log.warning(
        "text attempt %s failed (%s): %s",
        text.attempts,
        "will retry" if again else "gave up",
        error[:300],
        extra={"text_id": text.pk},
    )


def sweep_texts(now: datetime | None = None) -> int:
    """Queue every text that is due for another attempt (run on the schedule). Returns how
    many. The job id is the text's, so one already queued is not queued twice."""
    due_now = due(now or timezone.now(), waiting=TextStatus.PENDING, working=TextStatus.SUBMITTING)
    ids = list(Text.objects.filter(due_now).values_list("pk", flat=True)[:500])
    for text_id in ids:
        request_send(text_id)
    return len(ids)


RETRYABLE = [TextStatus.PENDING, TextStatus.FAILED, TextStatus.UNDELIVERED]


def retry_now(text_ids: list[int]) -> int:
    """An operator's "retry now": texts waiting, failed or undelivered get one more attempt at
    once (sent, delivered and skipped ones are left alone). Returns how many."""
    with transaction.atomic():
        ids = list(
            Text.objects.filter(pk__in=text_ids, status__in=RETRYABLE).values_list("pk", flat=True)
        )
        Text.objects.filter(pk__in=ids).update(
            status=TextStatus.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now()
        )
        for text_id in ids:
            request_send(text_id)
    return len(ids)


def record_status(account: TwilioAccount, params) -> bool:
    """Apply Twilio's status callback for a text of the account's tenant. Only forward moves
    are applied, so a repeated or late callback changes nothing. Returns whether it moved."""
    status = TWILIO_STATUS.get(params.get("MessageStatus", ""))
    sid = params.get("MessageSid", "")
    if status is None or not sid:
        return False
    earlier = [s for s, rank in TEXT_STATUS_RANK.items() if rank < TEXT_STATUS_RANK[status]]
    changes: dict[str, object] = {"status": status, "updated_at": timezone.now()}
    code = params.get("ErrorCode", "")
    if code:
        changes["last_error"] = f"Twilio error {code}"[:300]
    texts = Text.objects.filter(tenant_id=account.tenant_id, twilio_sid=sid)
    moved = bool(texts.filter(status__in=earlier).update(**changes))
    metrics.text_status(status, moved)
    if code == str(UNSUBSCRIBED):
        text = texts.first()
        if text is not None:
            record_opt_out(text.tenant_id, text.to, keyword=code)
    return moved
