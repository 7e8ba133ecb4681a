"""Twilio's webhooks: thin views that check the signature and call one action each."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telephony import inbound, outbound, twiml
from telephony.signatures import webhook_account

log = logging.getLogger(__name__)

# The database cannot be reached, or is locked past DATABASE_TIMEOUT: an outage, not a bug.
DATABASE_DOWN = (OperationalError, InterfaceError)


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


@csrf_exempt
@require_POST
def voice(request: HttpRequest) -> HttpResponse:
    try:
        account = webhook_account(request)
        if account is None:
            return HttpResponse("invalid signature", status=403, content_type="text/plain")
        return _twiml(inbound.answer_call(account, request.POST))
    except DATABASE_DOWN as exc:
        # Without the database the signature cannot be checked either; a polite goodbye tells
        # nothing and changes nothing, and is far better than Twilio's own error message.
        _database_down(request, "voice", exc)
        return _twiml(twiml.cannot_take_call())


@csrf_exempt
@require_POST
def status(request: HttpRequest) -> HttpResponse:
    try:
        account = webhook_account(request)
        if account is None:
            return HttpResponse("invalid signature", status=403, content_type="text/plain")
        inbound.record_status(account, request.POST)
    except DATABASE_DOWN as exc:
        # Not 200: the status was not recorded. A 503 is retried where the callback URL asks
        # Twilio to retry, and shows in Twilio's debugger; applying a status twice or late is
        # harmless (Call.apply_status never moves a call backwards).
        _database_down(request, "status", exc)
        response = HttpResponse("database unavailable", status=503, content_type="text/plain")
        response.headers["Retry-After"] = "5"
        return response
    # 200 even for an unknown call, so Twilio stops retrying.
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def outbound_answered(request: HttpRequest, call_id: int) -> HttpResponse:
    """Twilio asks what to do with an outbound call the callee answered."""
    try:
        account = webhook_account(request)
        if account is None:
            return HttpResponse("invalid signature", status=403, content_type="text/plain")
        return _twiml(outbound.answer_outbound(account, call_id, request.POST))
    except DATABASE_DOWN as exc:
        _database_down(request, "outbound", exc)
        return _twiml(twiml.cannot_take_call())


@csrf_exempt
@require_POST
def amd(request: HttpRequest) -> HttpResponse:
    """The asynchronous answering-machine verdict for an outbound call."""
    try:
        account = webhook_account(request)
        if account is None:
            return HttpResponse("invalid signature", status=403, content_type="text/plain")
        outbound.record_amd(account, request.POST)
    except DATABASE_DOWN as exc:
        _database_down(request, "amd", exc)
        response = HttpResponse("database unavailable", status=503, content_type="text/plain")
        response.headers["Retry-After"] = "5"
        return response
    return HttpResponse(status=200)  # even for an unknown call, so Twilio stops retrying
