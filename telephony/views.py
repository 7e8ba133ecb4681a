"""Twilio's webhooks: thin views that check the signature and call one action each."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telephony import inbound, outbound, text_replies, texts, twiml
from telephony.signatures import webhook_account

log = logging.getLogger(__name__)

# The database cannot be reached, or is locked past DATABASE_TIMEOUT: an outage, not a bug.
DATABASE_DOWN = (OperationalError, InterfaceError)
# A burst of calls can keep every pooled connection lent out past DATABASE_TIMEOUT for a moment.
# The caller is ringing meanwhile and Twilio waits 15 s for the answer, so while the database is
# busy (the pool reached it, and is only full) the voice webhook tries again for this long
# instead of turning the caller away; while it is down, it answers at once.
BUSY_PATIENCE_SECONDS = 5.0


def _pool_connect_errors() -> int | None:
    """How often the connection pool has failed to reach the database (None: no pool)."""
    pool = getattr(connection, "pool", None)  # PostgreSQL with DATABASE_POOL_SIZE
    return None if pool is None else pool.get_stats().get("connections_errors", 0)


def _patiently(attempt: Callable[[], HttpResponse], patience: float) -> HttpResponse:
    """`attempt()`, tried again while the database is busy (not down) for up to `patience` s.
    A pool timeout fails before the first query, and the webhooks are idempotent anyway."""
    deadline = time.monotonic() + patience
    delay = 0.05
    while True:
        errors_before = _pool_connect_errors()
        try:
            return attempt()
        except DATABASE_DOWN:
            errors = _pool_connect_errors()
            if errors is None or errors != errors_before or time.monotonic() + delay > deadline:
                raise
            log.warning("database busy (every pooled connection lent out): trying again")
            time.sleep(delay)
            delay = min(0.5, delay * 2)


def _twiml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml")


def _database_down(request: HttpRequest, webhook: str, exc: Exception) -> None:
    # The driver's message names the host and the failure (libpq never includes a password).
    log.error(
        "%s webhook: the database is unavailable (%s: %s)",
        webhook,
        type(exc).__name__,
        str(exc).splitlines()[0][:200] if str(exc) else "",
        extra={"call_sid": request.POST.get("CallSid", "")},
    )


def _polite_goodbye() -> HttpResponse:
    # Without the database the signature cannot be checked either; a polite goodbye tells
    # nothing and changes nothing, and is far better than Twilio's own error message.
    return _twiml(twiml.cannot_take_call())


def _retry_later() -> HttpResponse:
    # Not 200: nothing was recorded. A 503 is retried where the callback URL asks Twilio to
    # retry, and shows in Twilio's debugger; applying a callback twice or late is harmless.
    response = HttpResponse("database unavailable", status=503, content_type="text/plain")
    response.headers["Retry-After"] = "5"
    return response


def twilio_webhook(
    name: str, *, when_database_down: Callable[[], HttpResponse], patience: float = 0.0
):
    """A Twilio webhook view: POST only, CSRF-exempt (Twilio signs instead), the signature
    checked (403 otherwise) and the account handed to the view; during a database outage the
    view answers `when_database_down()` at once, with a log line. With `patience`, a busy
    database (its pool all lent out) is waited for that long first."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @require_POST
        @wraps(view)
        def webhook(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            def attempt() -> HttpResponse:
                account = webhook_account(request)
                if account is None:
                    return HttpResponse("invalid signature", status=403, content_type="text/plain")
                return view(request, account, *args, **kwargs)

            try:
                return _patiently(attempt, patience)
            except DATABASE_DOWN as exc:
                _database_down(request, name, exc)
                return when_database_down()

        return webhook

    return decorate


@twilio_webhook("voice", when_database_down=_polite_goodbye, patience=BUSY_PATIENCE_SECONDS)
def voice(request: HttpRequest, account) -> HttpResponse:
    return _twiml(inbound.answer_call(account, request.POST))


@twilio_webhook("status", when_database_down=_retry_later)
def status(request: HttpRequest, account) -> HttpResponse:
    inbound.record_status(account, request.POST)
    return HttpResponse(status=200)  # even for an unknown call, so Twilio stops retrying


@twilio_webhook("outbound", when_database_down=_polite_goodbye, patience=BUSY_PATIENCE_SECONDS)
def outbound_answered(request: HttpRequest, account, call_id: int) -> HttpResponse:
    """Twilio asks what to do with an outbound call the callee answered."""
    return _twiml(outbound.answer_outbound(account, call_id, request.POST))


@twilio_webhook("amd", when_database_down=_retry_later)
def amd(request: HttpRequest, account) -> HttpResponse:
    """The asynchronous answering-machine verdict for an outbound call."""
    outbound.record_amd(account, request.POST)
    return HttpResponse(status=200)  # even for an unknown call, so Twilio stops retrying


@twilio_webhook("sms", when_database_down=_retry_later)
def sms(request: HttpRequest, account) -> HttpResponse:
    """A text sent to one of the tenant's numbers (STOP, START, HELP)."""
    return _twiml(text_replies.answer_text(account, request.POST))


@twilio_webhook("sms status", when_database_down=_retry_later)
def sms_status(request: HttpRequest, account) -> HttpResponse:
    """Twilio's delivery status for a text we sent."""
    texts.record_status(account, request.POST)
    return HttpResponse(status=200)  # even for an unknown text, so Twilio stops retrying
