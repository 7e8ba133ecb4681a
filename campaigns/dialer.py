"""The dialer: a scheduler pass that claims due attempts, and the job that dials one.

The pass (voiceapp.cron every few seconds, or `manage.py run_dialer`) takes, per tenant under
a lock on the tenant's row (so two passes never count the same free slot twice), the due
scheduled attempts of its running campaigns: a do-not-call or opted-out number is skipped, an
attempt outside its window is moved to the window's next opening, and the rest are claimed
(scheduled → claimed) up to the campaign's and the tenant's caps of calls in flight and the
tenant's free lines (calls.admission: inbound calls take them too), each claim queuing
`dial_attempt` with a job id derived from the attempt and its claim (`attempt-<id>-<claim
time>`, see dial_job_id).

The job moves its attempt claimed → dialing by a conditional update, so a job that runs twice
(or two workers given the same id) dials once; it opens the Call with the engine's outbound
action and the contact's variables in the same transaction, takes one of the tenant's lines
for it (none free: no Call, the claim given back, the attempt due for the next pass), then
dials it through telephony.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from calls import admission
from calls import variables as call_variables
from calls.actions import open_outbound_call
from campaigns import morning, windows
from campaigns.actions import complete_if_done
from campaigns.attempts import finish_attempt
from campaigns.do_not_call import is_callable, uncallable
from campaigns.models import (
    IN_FLIGHT,
    AnsweringMachinePolicy,
    Attempt,
    AttemptResult,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Contact,
    TenantDialing,
)
from campaigns.texts import send_text_before
from telephony import dialing
from telephony.jobs import dial_call
from telephony.models import TextStatus
from telephony.texts import send_text
from voiceapp.jobs import enqueue_each
from voiceapp.models import Tenant

log = logging.getLogger(__name__)

DEFAULT_TENANT_CAP = 5  # calls in flight for a tenant without a TenantDialing row
# Attempts looked at per campaign and pass beyond its free slots: those outside their window or
# not callable are settled on the way, so one pass still fills the free slots.
SLACK = 200
DIAL_QUEUE = "telephony"


# ---------------------------------------------------------------- who may be called


def blocked_numbers(tenant_id: int, phones: list[str]) -> set[str]:
    """Of `phones`, those the tenant may not dial: on its or the global do-not-call list, or an
    opted-out contact's (campaigns.do_not_call, which also refuses them at the dial itself)."""
    return uncallable(tenant_id, phones)


def may_call(contact: Contact) -> bool:
    """Whether the contact may be called at all: not opted out, not on a do-not-call list."""
    return not contact.opted_out and is_callable(contact.tenant_id, contact.phone)


# ---------------------------------------------------------------- the scheduler pass


@dataclass
class PassReport:
    claimed: list[int] = field(default_factory=list)
    moved: int = 0  # outside their window: due again at its next opening
    skipped: int = 0  # do-not-call, opted out, or no window left before the campaign ends
    completed: list[int] = field(default_factory=list)


def schedule_pass(now: datetime.datetime | None = None) -> PassReport:
    """One pass over the due attempts of every running campaign (see the module's doc)."""
    now = now or timezone.now()
    report = PassReport()
    morning.send_due_texts(now)  # a morning call's text goes before its call
    tenant_ids = (
        Attempt.objects.filter(
            status=AttemptStatus.SCHEDULED, due_at__lte=now, campaign__status=CampaignStatus.RUNNING
        )
        .order_by()  # the default ordering would make DISTINCT see one row per attempt
        .values_list("campaign__tenant_id", flat=True)
        .distinct()
    )
    for tenant_id in list(tenant_ids):
        _schedule_tenant(tenant_id, now, report)
    report.completed = complete_finished_campaigns()
    return report


def tenant_cap(tenant_id: int) -> int:
    cap = (
        TenantDialing.objects.filter(tenant_id=tenant_id)
        .values_list("max_concurrent_calls", flat=True)
        .first()
    )
    return cap or DEFAULT_TENANT_CAP


def _schedule_tenant(tenant_id: int, now: datetime.datetime, report: PassReport) -> None:
    with transaction.atomic():
        # Serialises the passes of one tenant: the free slots are counted and filled under it.
        # NO KEY UPDATE: the dial jobs' inserts that reference the tenant (their FOR KEY SHARE)
        # must not wait for it, or a pass and a job deadlock.
        tenant = Tenant.objects.select_for_update(no_key=True).filter(pk=tenant_id).first()
        if tenant is None:
            return
        flying = dict(
            Attempt.objects.filter(campaign__tenant_id=tenant_id, status__in=IN_FLIGHT)
            .values_list("campaign_id")
            .annotate(n=Count("pk"))
            .values_list("campaign_id", "n")
        )
        free = tenant_cap(tenant_id) - sum(flying.values())
        lines_free = admission.free_lines(tenant)  # inbound calls share the tenant's lines
        if lines_free is not None:
            free = min(free, lines_free)
        campaigns = Campaign.objects.filter(tenant_id=tenant_id, status=CampaignStatus.RUNNING)
        for campaign in campaigns.order_by("pk"):
            if free <= 0:
                break
            room = min(free, campaign.max_concurrent_calls - flying.get(campaign.pk, 0))
            if room > 0:
                campaign.tenant = tenant
                free -= _schedule_campaign(campaign, room, now, report)


def _schedule_campaign(
    campaign: Campaign, room: int, now: datetime.datetime, report: PassReport
) -> int:
    spans = windows.spans(campaign.windows.all())
    due_now = Attempt.objects.filter(
        campaign=campaign, status=AttemptStatus.SCHEDULED, due_at__lte=now
    )
    if campaign.recurrence == Campaign.Recurrence.DAILY:
        due_now = due_now.filter(morning.ready_to_dial(now))  # its text has gone first
    due = list(
        due_now.select_for_update(skip_locked=True, of=("self",))
        .select_related("contact")
        .order_by("due_at", "pk")[: room + SLACK]
    )
    blocked = blocked_numbers(campaign.tenant_id, [a.contact.phone for a in due])
    claim: list[int] = []
    moved: list[Attempt] = []
    for attempt in due:
        if len(claim) >= room:
            break
        contact = attempt.contact
        if contact.opted_out or contact.phone in blocked:
            finish_attempt(
                attempt,
                status=AttemptStatus.SKIPPED,
                result=AttemptResult.DO_NOT_CALL,
                error="opted out" if contact.opted_out else "on the do-not-call list",
            )
            report.skipped += 1
            continue
        opening = windows.next_opening(
            now,
            zone=windows.zone_of(contact, campaign.tenant.time_zone),
            windows=spans,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
        )
        if opening is None:
            finish_attempt(
                attempt, status=AttemptStatus.SKIPPED, error="no calling window before the end"
            )
            report.skipped += 1
        elif opening > now:
            attempt.due_at = opening
            moved.append(attempt)
        else:
            claim.append(attempt.pk)
    if moved:
        Attempt.objects.bulk_update(moved, ["due_at"])
        report.moved += len(moved)
    if claim:
        Attempt.objects.filter(pk__in=claim, status=AttemptStatus.SCHEDULED).update(
            status=AttemptStatus.CLAIMED, claimed_at=now, updated_at=now
        )
        enqueue_each(
            dial_attempt,
            [(pk,) for pk in claim],
            job_ids=[dial_job_id(pk, now) for pk in claim],
            queue=DIAL_QUEUE,
        )
        report.claimed += claim
    return len(claim)


def dial_job_id(attempt_id: int, claimed_at: datetime.datetime) -> str:
    """The dial job's id: the attempt and its claim. The same claim never queues two jobs; a
    claim the reaper took back (its worker died holding the job, which rq still counts as
    started) gets a new one instead of waiting for rq to forget the dead job."""
    return f"attempt-{attempt_id}-{int(claimed_at.timestamp() * 1000)}"


def complete_finished_campaigns() -> list[int]:
    """Complete the running one-off campaigns with nothing left to dial or in flight."""
    left = Attempt.objects.filter(
        campaign=OuterRef("pk"), status__in=[AttemptStatus.SCHEDULED, *IN_FLIGHT]
    )
    done = Campaign.objects.filter(
        status=CampaignStatus.RUNNING, recurrence=Campaign.Recurrence.ONCE
    ).filter(~Exists(left))
    return [pk for pk in done.values_list("pk", flat=True) if complete_if_done(pk)]


# ---------------------------------------------------------------- the dial job


def call_variables_for(campaign: Campaign, contact: Contact) -> dict[str, object]:
    """The call's variables: the contact's, a `first_name` from the name when absent, the
    `disclosure` sentence, and the campaign's rendered `voicemail` (for the agent's voicemail
    text, when the campaign leaves a message)."""
    values: dict[str, object] = dict(contact.variables or {})
    if not values.get("first_name"):
        values["first_name"] = contact.name.split()[0] if contact.name.strip() else ""
    values["disclosure"] = (
        f"This is an automated assistant calling for {campaign.tenant.name}."
        if campaign.disclose_automation
        else ""
    )
    values["voicemail"] = ""
    if campaign.machine_policy == AnsweringMachinePolicy.LEAVE_MESSAGE:
        values["voicemail"] = call_variables.render(campaign.voicemail_template, values)
    return values


class NoFreeLine(Exception):
    """The attempt's tenant has every line busy (calls.admission): its call is not made."""


def dial_attempt(attempt_id: int) -> None:
    """Dial a claimed attempt, once (see the module's doc). Safe to run twice."""
    now = timezone.now()
    with transaction.atomic():
        taken = Attempt.objects.filter(pk=attempt_id, status=AttemptStatus.CLAIMED).update(
            status=AttemptStatus.DIALING, dialed_at=now, updated_at=now
        )
        if not taken:
            return  # dialled already, reaped, or cancelled
        attempt = Attempt.objects.select_related(
            "campaign__agent", "campaign__tenant", "campaign__caller_id", "contact"
        ).get(pk=attempt_id)
        campaign, contact = attempt.campaign, attempt.contact
        if campaign.status != CampaignStatus.RUNNING:
            # Paused or ended between the claim and now: not dialled. A paused campaign's
            # attempt waits for the resume; any other's is over.
            back = campaign.status == CampaignStatus.PAUSED
            Attempt.objects.filter(pk=attempt_id).update(
                status=AttemptStatus.SCHEDULED if back else AttemptStatus.CANCELLED,
                claimed_at=None,
                dialed_at=None,
            )
            return
        if not may_call(contact):
            finish_attempt(
                attempt,
                status=AttemptStatus.SKIPPED,
                result=AttemptResult.DO_NOT_CALL,
                error="on the do-not-call list or opted out",
            )
            return
        try:
            with transaction.atomic():
                call = open_outbound_call(
                    agent=campaign.agent,
                    to_number=contact.phone,
                    from_number=campaign.caller_id.number,
                    variables=call_variables_for(campaign, contact),
                    tenant=campaign.tenant,
                )
                if not admission.admit(call, at="dialer"):
                    raise NoFreeLine
        except NoFreeLine:
            # Every line of the tenant is busy: no call, no attempt used. The claim is given
            # back and the contact stays due, for the next pass (with a line free) to dial.
            Attempt.objects.filter(pk=attempt_id).update(
                status=AttemptStatus.SCHEDULED, claimed_at=None, dialed_at=None
            )
            return
        except (
            ValidationError,
            call_variables.TemplateError,
            call_variables.MissingVariables,
        ) as exc:
            message = "; ".join(getattr(exc, "messages", None) or [str(exc)])
            finish_attempt(attempt, result=AttemptResult.FAILED, error=message[:300])
            return
        attempt.call = call
        attempt.save(update_fields=["call", "updated_at"])
        text = None
        if (
            campaign.text_before
            and attempt.number == 1
            and campaign.recurrence == Campaign.Recurrence.ONCE  # mornings text on their own
        ):
            text = send_text_before(attempt)
    # Committed: the Call exists before Twilio is asked (its webhooks find it). If this worker
    # dies here, the reaper sees the queued call and asks telephony to dial it (dial_call
    # claims queued → initiated, so it is never dialled twice).
    if text is not None and text.status == TextStatus.PENDING:
        send_text(text.pk)  # handed to Twilio before the phone rings (claimed: sent once)
    dial_call(call.pk)


@dialing.before_dial
def campaign_dial_options(call) -> dialing.DialPlan | None:
    """A campaign's calls ring for the campaign's ring time and ask for the machine
    detection its answering-machine policy needs; a contact no longer callable is refused."""
    attempt = Attempt.objects.select_related("campaign", "contact").filter(call_id=call.pk).first()
    if attempt is None:
        return None
    if not may_call(attempt.contact):
        return dialing.DialPlan(refused="on the do-not-call list", outcome="do_not_call")
    detection = {
        AnsweringMachinePolicy.LEAVE_MESSAGE: "DetectMessageEnd",
        AnsweringMachinePolicy.HANG_UP: "Enable",
        AnsweringMachinePolicy.TALK: "",
    }[attempt.campaign.machine_policy]
    return dialing.DialPlan(ring_seconds=attempt.campaign.ring_seconds, machine_detection=detection)
