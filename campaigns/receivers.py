"""What a campaign does when one of its calls ends (calls.signals.call_ended, sent on commit):
its outcome fields are filled and delivered by a job, and the text after the call is queued."""

from __future__ import annotations

from django.dispatch import receiver

from calls.models import Call
from calls.signals import call_ended
from campaigns.models import Attempt
from campaigns.outcomes import fill_outcome
from campaigns.texts import send_text_after
from voiceapp.jobs import enqueue


@receiver(call_ended, dispatch_uid="campaigns.receivers.after_campaign_call")
def after_campaign_call(sender, *, call_id: int, direction: str = "", **_) -> None:
    if direction == Call.Direction.INBOUND:
        return  # campaigns only place calls
    attempt_id = Attempt.objects.filter(call_id=call_id).values_list("pk", flat=True).first()
    if attempt_id is None:
        return  # not a campaign's call
    enqueue(fill_outcome, attempt_id, job_id=f"outcome-{attempt_id}")
    send_text_after(attempt_id)
