"""Opening a test call: the one way a browser call gets its Call row."""

from __future__ import annotations

import uuid

from django.db import transaction

from calls.actions import open_inbound_call
from calls.models import Agent, Call, CallEvent

TEST_CALL = "test_call"  # the CallEvent kind that marks a call placed from the browser
FROM_PREFIX = "browser:"


def open_test_call(*, agent: Agent, user) -> Call:
    """A Call for `user` talking to `agent` from the browser, written before any audio flows.

    It is an inbound call of the agent's tenant (the agent greets first), recorded like any
    other, and marked as a test twice over: its `from_number` is "browser:<username>" (seen in
    the admin's call list) and a "test_call" event names who placed it. The carrier's call sid
    field holds a "browser-" id of its own, so no Twilio callback or job can ever match it.
    """
    username = user.get_username()
    max_length = Call._meta.get_field("from_number").max_length
    with transaction.atomic():
        call = open_inbound_call(
            tenant=agent.tenant,
            agent=agent,
            call_sid=f"browser-{uuid.uuid4().hex}",
            account_sid="",
            from_number=(FROM_PREFIX + username)[:max_length],
            to_number=f"agent:{agent.pk}",
        )
        CallEvent.objects.create(
            call=call, kind=TEST_CALL, data={"user_id": user.pk, "username": username}
        )
    return call
