"""Checks every outbound dial passes, whichever path dials (a campaign, the API, the admin).

An app registers, in its AppConfig.ready():

    @before_dial
    def honour_do_not_call(call: Call) -> DialPlan | None: ...

Each check sees the Call about to be dialled (claimed, not yet sent to Twilio) and returns None
(no opinion) or a DialPlan: refused with a reason and an outcome (the call is then finished
without dialling), or dial options (ring time, answering-machine detection). The first refusal
wins; options are merged in registration order. A check that raises refuses the dial: when
in doubt, do not call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class DialPlan:
    refused: str = ""  # why not, said in the call's "ended" event; empty: go ahead
    outcome: str = "dial_refused"
    ring_seconds: int | None = None
    machine_detection: str | None = None  # "Enable", "DetectMessageEnd" or "" (none)


Check = Callable[..., "DialPlan | None"]
_checks: list[Check] = []


def before_dial(fn: Check) -> Check:
    if fn not in _checks:
        _checks.append(fn)
    return fn


def unregister(fn: Check) -> None:
    if fn in _checks:
        _checks.remove(fn)


def plan_for(call) -> DialPlan:
    """The merged plan of every registered check for `call`."""
    plan = DialPlan()
    for check in list(_checks):
        try:
            found = check(call)
        except Exception:
            log.exception(
                "dial check %s failed: not dialling", getattr(check, "__qualname__", check)
            )
            return DialPlan(refused="a dial check failed", outcome="dial_refused")
        if found is None:
            continue
        if found.refused:
            return found
        if found.ring_seconds is not None:
            plan.ring_seconds = found.ring_seconds
        if found.machine_detection is not None:
            plan.machine_detection = found.machine_detection
    return plan
