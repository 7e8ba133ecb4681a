"""Actions on campaigns: start, pause, resume, cancel and complete.

Each is atomic and the one way its change is made (the admin, the commands and the dialer call
these); `campaigns.signals.campaign_changed` is sent once the transaction commits. Starting
writes the first attempt of every contact of the list before anything dials it.
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from calls import variables as call_variables
from calls.models import FirstSpeaker
from campaigns.models import (
    IN_FLIGHT,
    AnsweringMachinePolicy,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Contact,
)
from campaigns.signals import campaign_changed

log = logging.getLogger(__name__)


class CampaignRefused(Exception):
    """The change cannot be made; the message says why, for staff."""


def _locked(campaign_id: int) -> Campaign:
    # NO KEY UPDATE: attempts inserted meanwhile (their FK check takes FOR KEY SHARE on this
    # row) must not wait for a status change, or a dial job and this deadlock.
    campaign = (
        Campaign.objects.select_for_update(no_key=True, of=("self",))
        .select_related("agent", "tenant", "caller_id")
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None:
        raise CampaignRefused(f"No campaign #{campaign_id}.")
    return campaign


def _move(campaign: Campaign, status: str, *, by: str, reason: str = "") -> None:
    if not campaign.may_become(status):
        raise CampaignRefused(
            f"{campaign.name} is {campaign.get_status_display().lower()}: it cannot become "
            f"{CampaignStatus(status).label.lower()}."
        )
    previous = campaign.status
    campaign.status = status
    campaign.status_reason = reason[:300]
    campaign.save(update_fields=["status", "status_reason", "updated_at"])
    sent = {
        "campaign_id": campaign.pk,
        "tenant_id": campaign.tenant_id,
        "status": status,
        "previous": previous,
        "by": by,
        "reason": campaign.status_reason,
    }
    transaction.on_commit(lambda: campaign_changed.send(sender=Campaign, **sent))


def check_ready(campaign: Campaign) -> None:
    """CampaignRefused unless `campaign` may start: its settings are valid, its agent and number
    are the tenant's, the agent's greeting discloses the automation when it must, and the agent
    fits the answering-machine policy."""
    try:
        campaign.full_clean(exclude=["tenant", "agent", "contact_list", "caller_id"])
    except ValidationError as exc:
        raise CampaignRefused("; ".join(exc.messages)) from None
    agent = campaign.agent
    if agent.tenant_id != campaign.tenant_id or campaign.caller_id.tenant_id != campaign.tenant_id:
        raise CampaignRefused("The agent and the caller number must be the campaign's tenant's.")
    try:
        greeting_uses = call_variables.placeholders(agent.greeting)
        voicemail_uses = call_variables.placeholders(agent.voicemail_message)
        call_variables.placeholders(campaign.voicemail_template)
    except call_variables.TemplateError as exc:
        raise CampaignRefused(str(exc)) from None
    if campaign.disclose_automation and "disclosure" not in greeting_uses:
        raise CampaignRefused(
            f"The greeting of agent {agent.name!r} must use {{disclosure}}: this campaign "
            "says that the call is automated."
        )
    waits = agent.outbound_first_speaker == FirstSpeaker.MACHINE_VERDICT
    policy = campaign.machine_policy
    if policy == AnsweringMachinePolicy.LEAVE_MESSAGE and not (
        waits and "voicemail" in voicemail_uses
    ):
        # The session leaves the message itself, after the beep, then hangs up; it says the
        # agent's voicemail text, into which the dialer puts this campaign's message.
        raise CampaignRefused(
            f"To leave a message, agent {agent.name!r} must wait for the machine verdict and "
            "its voicemail message must use {voicemail}."
        )
    if policy == AnsweringMachinePolicy.TALK and waits:
        raise CampaignRefused(
            f"Agent {agent.name!r} waits for a machine verdict, which a campaign that talks to "
            "machines does not ask for: choose who speaks first on the agent."
        )


def schedule_first_attempts(campaign: Campaign, at: datetime.datetime | None = None) -> int:
    """Write attempt 1 for every contact of the list that has none yet. Returns how many."""
    at = at or max(timezone.now(), campaign.starts_at)
    contact_ids = Contact.objects.filter(
        lists=campaign.contact_list_id, tenant_id=campaign.tenant_id
    ).values_list("pk", flat=True)
    have = set(campaign.attempts.values_list("contact_id", flat=True))
    rows = [
        Attempt(campaign=campaign, contact_id=cid, number=1, due_at=at)
        for cid in contact_ids
        if cid not in have
    ]
    Attempt.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def start_campaign(campaign_id: int, *, by: str) -> Campaign:
    """Draft → running: checked (check_ready), then the first attempt of each contact written,
    due at the campaign's start; the dialer calls them inside their windows."""
    with transaction.atomic():
        campaign = _locked(campaign_id)
        if not campaign.may_become(CampaignStatus.RUNNING) or (
            campaign.status != CampaignStatus.DRAFT
        ):
            raise CampaignRefused(
                f"{campaign.name} is {campaign.get_status_display().lower()}: only a draft starts."
            )
        check_ready(campaign)
        if campaign.recurrence == Campaign.Recurrence.ONCE:
            if not schedule_first_attempts(campaign):
                raise CampaignRefused(f"The list {campaign.contact_list} has no contacts.")
        _move(campaign, CampaignStatus.RUNNING, by=by)
    log.info("campaign %s started by %s", campaign.pk, by)
    return campaign


def pause_campaign(campaign_id: int, *, by: str, reason: str = "") -> Campaign:
    """Running → paused: nothing more is dialled; calls in progress go on to their end."""
    with transaction.atomic():
        campaign = _locked(campaign_id)
        _move(campaign, CampaignStatus.PAUSED, by=by, reason=reason)
    return campaign


def resume_campaign(campaign_id: int, *, by: str) -> Campaign:
    """Paused → running, checked again; contacts added to the list meanwhile are scheduled."""
    with transaction.atomic():
        campaign = _locked(campaign_id)
        if campaign.status != CampaignStatus.PAUSED:
            raise CampaignRefused(f"{campaign.name} is not paused.")
        check_ready(campaign)
        if campaign.recurrence == Campaign.Recurrence.ONCE:
            schedule_first_attempts(campaign)
        _move(campaign, CampaignStatus.RUNNING, by=by)
    return campaign


def cancel_campaign(campaign_id: int, *, by: str) -> Campaign:
    """→ cancelled: every attempt not yet claimed is cancelled (calls in progress end
    normally; nothing new is dialled)."""
    with transaction.atomic():
        campaign = _locked(campaign_id)
        _move(campaign, CampaignStatus.CANCELLED, by=by)
        campaign.attempts.filter(status=AttemptStatus.SCHEDULED).update(
            status=AttemptStatus.CANCELLED, ended_at=timezone.now(), updated_at=timezone.now()
        )
    return campaign


def complete_if_done(campaign_id: int) -> bool:
    """Running → completed when no attempt is left to dial or in flight. Returns whether it
    completed now (a daily campaign never completes by itself)."""
    unfinished = [AttemptStatus.SCHEDULED, *IN_FLIGHT]
    if Attempt.objects.filter(campaign_id=campaign_id, status__in=unfinished).exists():
        return False  # the common case, answered without locking the campaign
    with transaction.atomic():
        campaign = _locked(campaign_id)
        if (
            campaign.status != CampaignStatus.RUNNING
            or campaign.recurrence != Campaign.Recurrence.ONCE
        ):
            return False
        if campaign.attempts.filter(status__in=unfinished).exists():
            return False
        _move(campaign, CampaignStatus.COMPLETED, by="dialer", reason="Every contact was tried.")
    return True
