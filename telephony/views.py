"""Twilio's webhooks: thin views that check the signature and call one action each."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telephony import inbound
from telephony.signatures import webhook_account


def _twiml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml")


@csrf_exempt
@require_POST
def voice(request: HttpRequest) -> HttpResponse:
    account = webhook_account(request)
    if account is None:
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    return _twiml(inbound.answer_call(account, request.POST))


@csrf_exempt
@require_POST
def status(request: HttpRequest) -> HttpResponse:
    account = webhook_account(request)
    if account is None:
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    inbound.record_status(account, request.POST)
    # 200 even for an unknown call, so Twilio stops retrying.
    return HttpResponse(status=200)
