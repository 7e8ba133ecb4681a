"""Opening a test call: the one way a browser call gets its Call row."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from calls.models import Agent, Call, CallEvent, CallStatus

TEST_CALL = "test_call"  # the CallEvent kind that marks a call placed from the browser
FROM_PREFIX = "browser:"


def open_test_call(*, agent: Agent, user) -> Call:
    """A Call for `user` talking to `agent` from the browser, written before any audio flows.

    It is an inbound call of the agent's tenant (the agent greets first), ringing until its
    session starts, recorded like any other, and marked as a test twice over: its
    `from_number` is "browser:<username>" (seen in the admin's call list) and a "test_call"
    event names who placed it. It has no Twilio call sid (it never went through the carrier):
    no carrier callback or job can match it, and no carrier minutes are billed for it.
    """
    username = user.get_username()
    max_length = Call._meta.get_field("from_number").max_length
    with transaction.atomic():
        call = Call.objects.create(
            tenant=agent.tenant,
            agent=agent,
            direction=Call.Direction.INBOUND,
            from_number=(FROM_PREFIX + username)[:max_length],
            to_number=f"agent:{agent.pk}",
            status=CallStatus.RINGING,
            status_history=[
                {
                    "status": CallStatus.RINGING,
                    "at": timezone.now().isoformat(),
                    "source": "browser test call",
                }
            ],
        )
        CallEvent.objects.create(
            call=call, kind=TEST_CALL, data={"user_id": user.pk, "username": username}
        )
    return call
