"""An attempt's life after its dial: its result from the Call's end (`calls.signals.call_ended`),
the next attempt at the campaign's delay for that result while attempts remain, the campaign
paused when most recent attempts fail at the carrier, and completed when nothing is left.

The reaper puts right what a worker killed mid-dial left behind: an attempt claimed whose job
never ran goes back to the queue; one dialling whose Call was never handed to Twilio is dialled
(telephony claims queued → initiated, so never twice); one whose request to Twilio was cut off
(placed or not, nobody knows) is marked lost and tried again later as a new attempt.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from calls.actions import finish_call
from calls.admission import LINES_BUSY
from calls.models import Call, CallEvent, CallStatus
from calls.signals import call_ended
from campaigns.models import (
    Attempt,
    AttemptResult,
    AttemptStatus,
    Campaign,
    CampaignStatus,
)
from campaigns.signals import attempt_finished

log = logging.getLogger(__name__)

RETRIED = {
    AttemptResult.NO_ANSWER,
    AttemptResult.BUSY,
    AttemptResult.FAILED,
    AttemptResult.VOICEMAIL,
    AttemptResult.LOST,
}
# Auto-pause: at least this share of the last AUTO_PAUSE_WINDOW dialled attempts failed.
AUTO_PAUSE_WINDOW = 10
AUTO_PAUSE_SHARE = 0.5
DIALLED = [
    AttemptResult.HUMAN,
    AttemptResult.VOICEMAIL,
    AttemptResult.NO_ANSWER,
    AttemptResult.BUSY,
    AttemptResult.FAILED,
]
# The reaper's patience: a claim's job normally runs within seconds; a dial (Twilio's answer
# to the request, which it sends before the phone rings) likewise. Past these the worker died.
CLAIM_TIMEOUT = datetime.timedelta(minutes=2)
DIAL_TIMEOUT = datetime.timedelta(minutes=2)
LOST = "lost"  # the Call's outcome when the request to Twilio was cut off


def result_for(status: str, outcome: str, answered_by: str = "") -> str:
    """The attempt's result for a call that ended with `status` and `outcome`, given Twilio's
    AnsweredBy verdict if one came."""
    if outcome == "do_not_call":
        return AttemptResult.DO_NOT_CALL
    if outcome == LINES_BUSY:
        # Answered, but the server its stream reached was full (calls.admission): our line was
        # busy, not the person; retried as a busy line is.
        return AttemptResult.BUSY
    machine = answered_by.startswith("machine") or answered_by == "fax"
    if machine or outcome in ("answering_machine", "voicemail_left", "fax"):
        return AttemptResult.VOICEMAIL
    return {
        CallStatus.COMPLETED: AttemptResult.HUMAN,
        CallStatus.NO_ANSWER: AttemptResult.NO_ANSWER,
        CallStatus.BUSY: AttemptResult.BUSY,
    }.get(status, AttemptResult.FAILED)


def finish_attempt(
    attempt: Attempt,
    *,
    result: str = "",
    status: str = AttemptStatus.DONE,
    error: str = "",
) -> Attempt | None:
    """Give `attempt` its final status and result, and schedule the next attempt when the
    result is one the campaign retries and attempts remain (number < max_attempts), due after
    the campaign's delay for that result. Call inside a transaction; returns the next attempt.
    After the commit: `attempt_finished`, then the auto-pause and completion checks."""
    now = timezone.now()
    attempt.status, attempt.result, attempt.ended_at = status, result, now
    attempt.error = error[:300]
    attempt.save(update_fields=["status", "result", "ended_at", "error", "updated_at"])
    campaign: Campaign = attempt.campaign
    following = None
    delay = campaign.retry_delay(AttemptResult.FAILED if result == AttemptResult.LOST else result)
    if (
        result in RETRIED
        and delay is not None
        and attempt.number < campaign.max_attempts
        and campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
    ):
        following, _ = Attempt.objects.get_or_create(
            campaign=campaign,
            contact_id=attempt.contact_id,
            day=attempt.day,
            number=attempt.number + 1,
            defaults={"due_at": now + delay},
        )
    sent = {
        "attempt_id": attempt.pk,
        "campaign_id": campaign.pk,
        "tenant_id": campaign.tenant_id,
        "result": result,
        "next_attempt_id": following.pk if following else None,
    }
    transaction.on_commit(lambda: _after_result(**sent))
    return following


def _after_result(**sent) -> None:
    attempt_finished.send(sender=Attempt, **sent)
    from campaigns.actions import complete_if_done

    if sent["result"] in DIALLED:
        pause_if_failing(sent["campaign_id"])
    complete_if_done(sent["campaign_id"])


def pause_if_failing(campaign_id: int) -> bool:
    """Pause a running campaign when at least half of its last 10 dialled attempts failed at
    the carrier (a bad caller number, an account suspended): better than burning the list."""
    from campaigns.actions import CampaignRefused, pause_campaign

    results = list(
        Attempt.objects.filter(campaign_id=campaign_id, result__in=DIALLED)
        .order_by("-ended_at", "-pk")
        .values_list("result", flat=True)[:AUTO_PAUSE_WINDOW]
    )
    failed = results.count(AttemptResult.FAILED)
    if len(results) < AUTO_PAUSE_WINDOW or failed < AUTO_PAUSE_SHARE * len(results):
        return False
    reason = f"Paused by the dialer: {failed} of the last {len(results)} attempts failed."
    try:
        pause_campaign(campaign_id, by="dialer", reason=reason)
    except CampaignRefused:
        return False  # not running (paused or ended already)
    log.warning("campaign %s paused: %s", campaign_id, reason)
    return True


def _verdict(call_id: int) -> str:
    event = CallEvent.objects.filter(call_id=call_id, kind=CallEvent.Kind.AMD).order_by("at").last()
    return (event.data.get("answered_by") or "") if event else ""


def settle_from_call(call: Call) -> Attempt | None:
    """Finish the attempt of an ended call with the result its status says (once: an attempt
    already finished is left alone). Returns the attempt when it was finished now."""
    with transaction.atomic():
        attempt = (
            Attempt.objects.select_for_update()
            .select_related("campaign")
            .filter(call_id=call.pk)
            .first()
        )
        if attempt is None or attempt.status not in (
            AttemptStatus.DIALING,
            AttemptStatus.RINGING,
            AttemptStatus.IN_PROGRESS,
        ):
            return None
        answered_by = attempt.answered_by or _verdict(call.pk)
        if answered_by != attempt.answered_by:
            attempt.answered_by = answered_by
            attempt.save(update_fields=["answered_by"])
        result = result_for(call.status, call.outcome, answered_by)
        finish_attempt(attempt, result=result)
        return attempt


@receiver(call_ended, dispatch_uid="campaigns.attempts.on_call_ended")
def on_call_ended(sender, call_id: int, direction: str = "", **kwargs) -> None:
    if direction == Call.Direction.INBOUND:
        return  # campaigns only place calls
    call = Call.objects.filter(pk=call_id).first()
    if call is not None:
        settle_from_call(call)


# ---------------------------------------------------------------- the reaper


@dataclass
class ReapReport:
    requeued: int = 0  # claimed, the job never ran: back to scheduled
    redialled: int = 0  # dialling, the Call never handed to Twilio: dialled now
    lost: int = 0  # the request to Twilio was cut off: lost, retried as a new attempt
    settled: int = 0  # the call ended but the attempt missed it


def reap_attempts(now: datetime.datetime | None = None) -> ReapReport:
    """Put right the attempts a dead worker left (see the module's doc). Safe to run twice
    and in several processes (rows are claimed with skip_locked)."""
    from telephony.jobs import request_dial

    now = now or timezone.now()
    report = ReapReport()
    report.requeued = Attempt.objects.filter(
        status=AttemptStatus.CLAIMED, claimed_at__lt=now - CLAIM_TIMEOUT
    ).update(status=AttemptStatus.SCHEDULED, claimed_at=None, updated_at=now)
    stale = Attempt.objects.filter(status=AttemptStatus.DIALING, dialed_at__lt=now - DIAL_TIMEOUT)
    for attempt_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            attempt = (
                Attempt.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("campaign", "call")
                .filter(pk=attempt_id, status=AttemptStatus.DIALING)
                .first()
            )
            if attempt is None:
                continue
            call = attempt.call
            if call is not None and call.is_final:
                report.settled += 1
            elif call is not None and call.twilio_call_sid:
                continue  # placed: its status callbacks (or the calls reaper) end it
            elif call is not None and call.status == CallStatus.QUEUED:
                attempt.dialed_at = now  # wait another DIAL_TIMEOUT before looking again
                attempt.save(update_fields=["dialed_at", "updated_at"])
                request_dial(call.pk)
                report.redialled += 1
                continue
            else:
                finish_attempt(
                    attempt,
                    result=AttemptResult.LOST,
                    error="the worker died while asking Twilio to dial",
                )
                report.lost += 1
                if call is not None:
                    call_pk = call.pk
                    transaction.on_commit(
                        lambda pk=call_pk: finish_call(
                            pk,
                            status=CallStatus.FAILED,
                            outcome=LOST,
                            source="campaign reaper",
                            event_data={"reason": "the dial request was cut off"},
                        )
                    )
                continue
        if call is not None and call.is_final:
            settle_from_call(call)
    return report
