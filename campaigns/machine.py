"""A campaign's answering-machine policy, applied when Twilio's verdict comes in
(`telephony.signals.machine_answered`, on commit of the AMD webhook).

- hang up: the live session is told to hang up ("answering_machine") and Twilio is asked to
  end the call (which also covers a verdict that lands before the stream opened);
- leave a message: the session does it. The campaign's agent waits for the verdict and its
  voicemail text uses `{voicemail}`, which the dialer fills with the campaign's message
  rendered for the contact (campaigns.actions.check_ready refuses a campaign otherwise);
  Twilio's DetectMessageEnd sends the verdict at the beep, so the session speaks after it, then
  hangs up. A fax is hung up on;
- talk: nothing; the agent talks as to a person.
A person ("human", "unknown") is always left to the agent. The verdict is kept on the attempt.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from calls.control import send_control_sync
from campaigns.models import AnsweringMachinePolicy, Attempt
from telephony.jobs import request_hang_up
from telephony.signals import machine_answered

log = logging.getLogger(__name__)

HANG_UP = "hang_up"
LEAVE_MESSAGE = "leave_message"  # the session says the message, then hangs up
NOTHING = ""


def is_machine(answered_by: str) -> bool:
    return answered_by.startswith("machine") or answered_by == "fax"


def action_for(policy: str, answered_by: str) -> str:
    """What the campaign does about the verdict `answered_by` under `policy`."""
    if not is_machine(answered_by) or policy == AnsweringMachinePolicy.TALK:
        return NOTHING
    if policy == AnsweringMachinePolicy.LEAVE_MESSAGE and answered_by != "fax":
        return LEAVE_MESSAGE
    return HANG_UP


@receiver(machine_answered, dispatch_uid="campaigns.machine.apply_policy")
def apply_policy(sender, call_id: int, answered_by: str, **kwargs) -> str:
    attempt = Attempt.objects.select_related("campaign").filter(call_id=call_id).first()
    if attempt is None:
        return NOTHING  # not a campaign's call
    Attempt.objects.filter(pk=attempt.pk, answered_by="").update(answered_by=answered_by)
    action = action_for(attempt.campaign.machine_policy, answered_by)
    if action == HANG_UP:
        send_control_sync(call_id, "hang_up", outcome="answering_machine")
        request_hang_up(call_id)
    log.info(
        "machine verdict %s: %s",
        answered_by,
        action or "nothing",
        extra={"call_id": call_id, "attempt_id": attempt.pk},
    )
    return action
