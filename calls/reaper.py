"""Every call reaches a final status, even when no process is left to give it one.

A call in progress whose server died (kill -9, a lost host, an overloaded process whose close
never ran) stops beating (calls.engine.heartbeat); an inbound call the voice webhook answered
whose media stream never opened stays ringing. The reaper, run every minute by the scheduler
(voiceapp/cron.py), finalizes both, with a "ended" event saying why. Safe to run twice and in
several workers at once: each call is claimed with select_for_update(skip_locked=True) and its
condition checked again under the lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calls.actions import finish_call
from calls.models import Call, CallStatus

log = logging.getLogger(__name__)

SERVER_LOST = "server_lost"
STREAM_NEVER_OPENED = "stream_never_opened"
# Outbound calls may legitimately wait queued or ringing (the dialer owns them); only the calls
# the voice webhook answered (inbound, connected straight to a stream) are expected to open one.
WAITING_FOR_STREAM = [CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING]


@dataclass(frozen=True)
class Limits:
    heartbeat_stale: datetime  # in progress, last beat before this: its process is gone
    stream_open: datetime  # answered by the webhook before this and still no stream

    @classmethod
    def at(cls, now: datetime) -> Limits:
        return cls(
            heartbeat_stale=now - timedelta(seconds=settings.CALL_HEARTBEAT_STALE_SECONDS),
            stream_open=now - timedelta(seconds=settings.STREAM_OPEN_LIMIT_SECONDS),
        )


def _lost(limits: Limits) -> Q:
    # A call in progress that never beat had no session here: Twilio said it was answered, but
    # its stream never opened.
    return Q(status=CallStatus.IN_PROGRESS) & (
        Q(heartbeat_at__lt=limits.heartbeat_stale)
        | Q(heartbeat_at__isnull=True, status_changed_at__lt=limits.heartbeat_stale)
    )


def _never_opened(limits: Limits) -> Q:
    return Q(
        direction=Call.Direction.INBOUND,
        status__in=WAITING_FOR_STREAM,
        status_changed_at__lt=limits.stream_open,
    )


def reap_calls(now: datetime | None = None) -> dict[str, int]:
    """Finalize the calls no process will finish. Returns how many, by outcome."""
    limits = Limits.at(now or timezone.now())
    candidates = Call.objects.filter(_lost(limits) | _never_opened(limits)).values_list(
        "pk", flat=True
    )
    reaped: dict[str, int] = {}
    for call_id in list(candidates[:1000]):
        outcome = reap_call(call_id, limits)
        if outcome:
            reaped[outcome] = reaped.get(outcome, 0) + 1
    if reaped:
        log.warning("reaped calls no process was finishing: %s", reaped, extra={"reaped": reaped})
    return reaped


def reap_call(call_id: int, limits: Limits) -> str:
    """Finalize one call if it still qualifies and no one else holds it. Returns the outcome
    given, or "" when the call was left alone."""
    with transaction.atomic():
        call = (
            Call.objects.select_for_update(skip_locked=True)
            .filter(_lost(limits) | _never_opened(limits), pk=call_id)
            .first()
        )
        if call is None:
            return ""
        if call.status == CallStatus.IN_PROGRESS and call.heartbeat_at is not None:
            outcome, status = SERVER_LOST, CallStatus.COMPLETED
            reason = "the process holding the call stopped beating"
            ended_at = call.heartbeat_at  # the last moment it was known alive
        else:
            outcome, status = STREAM_NEVER_OPENED, CallStatus.FAILED
            reason = "no media stream opened for the call"
            ended_at = timezone.now()
        finish_call(
            call.pk,
            status=status,
            outcome=outcome,
            source=f"reaper: {outcome}",
            at=ended_at,
            event_data={
                "reaped": True,
                "reason": reason,
                "status_was": call.status,
                "heartbeat_at": call.heartbeat_at.isoformat() if call.heartbeat_at else None,
            },
        )
    return outcome
