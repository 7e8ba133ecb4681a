"""Twilio's REST API, through the twilio library: the only way we act on a live call."""

from __future__ import annotations

import logging

from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from telephony.models import TwilioAccount

log = logging.getLogger(__name__)


def client_for(account: TwilioAccount) -> Client:
    client = Client(account.account_sid, account.auth_token)
    if settings.TWILIO_API_BASE_URL:  # a local stand-in for api.twilio.com (tests, demos)
        client.api.base_url = settings.TWILIO_API_BASE_URL
    return client


def hang_up(account: TwilioAccount, call_sid: str) -> bool:
    """End a live call. Returns False when Twilio says the call is already over."""
    try:
        client_for(account).calls(call_sid).update(status="completed")
    except TwilioRestException as exc:
        if exc.status == 404:  # already gone
            return False
        raise
    return True
