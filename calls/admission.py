"""Admission control: a call is taken on only where there is room for it, so that a full server
or a tenant over its share never degrades the calls already on the line.

Two caps, each checked where its count is known:
- The tenant's (Tenant.max_concurrent_calls, else CALLS_PER_TENANT_MAX): its calls on the phone
  at once across every process (calls.lines). Checked when a call takes a line: the voice
  webhook, before it connects the caller; the dial, before Twilio is asked.
- The process's (CALLS_PER_PROCESS_MAX): the live sessions this process carries. Behind a load
  balancer the webhook and the media socket may land on different processes, so only the
  socket's process knows; it is checked when the conversation opens (calls.live.open_call).

A call over either is ended at once with the outcome LINES_BUSY (an "ended" event says which cap
and the count), and the carrier side tells the caller (telephony: "all our lines are busy").
A campaign's attempt is not refused: it waits for a free line (campaigns.dialer).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from calls import lines
from calls.actions import finish_call
from calls.models import Call, CallStatus
from monitoring import metrics

log = logging.getLogger(__name__)

LINES_BUSY = "lines_busy"  # the outcome of a call refused for want of a line
TENANT_CAP = "tenant_cap"
PROCESS_CAP = "process_cap"


class LinesBusy(Exception):
    """This process is at its cap: the call was refused (and ended as LINES_BUSY)."""


def tenant_cap(tenant: Any) -> int:
    """The tenant's cap on calls at once; 0: none."""
    return tenant.max_concurrent_calls or settings.CALLS_PER_TENANT_MAX


def admit(call: Call, *, at: str) -> bool:
    """Give `call` a line of its tenant (calls.lines), or say there is none. Idempotent: a call
    that holds a line is admitted again. `at` names the check for the refusal count."""
    cap = tenant_cap(call.tenant)
    if not cap:
        return True
    if lines.take(call, cap):
        return True
    metrics.call_refused(TENANT_CAP, at)
    log.info(
        "call %s refused: tenant %s has all its %d lines busy",
        call.pk,
        call.tenant_id,
        cap,
        extra={"call_id": call.pk, "tenant_id": call.tenant_id, "cap": cap, "at": at},
    )
    return False


def free_lines(tenant: Any) -> int | None:
    """How many more calls the tenant may have on the phone now; None: no cap (or no count)."""
    cap = tenant_cap(tenant)
    if not cap:
        return None
    try:
        return max(0, cap - lines.held(tenant.pk))
    except (RedisError, OSError):
        return None  # the admission itself decides (and admits while Redis is away)


def refuse(call_id: int, *, reason: str, status: str = CallStatus.COMPLETED, **data: Any) -> bool:
    """End a call refused for want of a line: outcome LINES_BUSY, its "ended" event naming the
    cap (`reason`) and `data`. Returns whether this ended it."""
    return finish_call(
        call_id,
        status=status,
        outcome=LINES_BUSY,
        source=f"admission: {reason}",
        event_data={"refused": reason, **data},
    )


class ProcessLoad:
    """The live sessions this process carries, and those being opened (not yet live)."""

    def __init__(self) -> None:
        self._opening: set[int] = set()

    def __len__(self) -> int:
        from calls.engine.heartbeat import live_calls

        return len(live_calls) + sum(1 for c in self._opening if c not in live_calls)

    def reserve(self, call_id: int) -> bool:
        """Count `call_id` in while its conversation opens; False when the process is full.
        No await between the check and the count: one event loop cannot race itself."""
        cap = settings.CALLS_PER_PROCESS_MAX
        if cap and call_id not in self._opening and len(self) >= cap:
            return False
        self._opening.add(call_id)
        return True

    def opened(self, call_id: int) -> None:
        """The call is live (counted by live_calls from now on), or never will be."""
        self._opening.discard(call_id)


process_load = ProcessLoad()


def refuse_for_process(call_id: int) -> None:
    """A call this full process will not carry: ended as LINES_BUSY (sync; the caller is told
    by the carrier side)."""
    cap = settings.CALLS_PER_PROCESS_MAX
    metrics.call_refused(PROCESS_CAP, "stream")
    log.warning(
        "call %s refused: this process carries its cap of %d calls",
        call_id,
        cap,
        extra={"call_id": call_id, "cap": cap},
    )
    refuse(call_id, reason=PROCESS_CAP, cap=cap)


def on_call_ended(sender, *, call_id: int, **kwargs) -> None:
    """calls.signals.call_ended: the call's line is free, however it ended."""
    tenant_id = Call.objects.filter(pk=call_id).values_list("tenant_id", flat=True).first()
    if tenant_id is not None:
        lines.release(tenant_id, call_id)
