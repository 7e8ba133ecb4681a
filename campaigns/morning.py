"""The morning call: a daily campaign (Campaign.recurrence = "daily") texts each contact an
affirmation and then calls them, every chosen weekday at the campaign's local time in the
contact's own time zone.

- The planner (`plan_mornings`, on the schedule) writes one Attempt per contact per local day
  (`Attempt.day`, number 1) due at that day's local time, for today and tomorrow. Local times
  become instants with zoneinfo from the local date, so 07:30 stays 07:30 across a
  daylight-saving change. The constraint on (campaign, contact, day, number) and a planner that
  skips what exists make it safe to run twice, or in two processes.
- The 8:00-21:00 floor holds for these calls too (no setting widens it): a time before 8:00 is
  called at 8:00 (`clamp_warning` says so in the admin); one at or after 21:00 never.
- The text goes first: `send_due_texts` (each dialer pass) queues, `TEXT_LEAD` before the call,
  a job writing the text (key `attempt-<id>-morning`); the dialer claims a morning attempt
  only once that text was handed to Twilio, failed or was skipped (`ready_to_dial`), or, if
  the text is still retrying, `TEXT_PATIENCE` after the call was due.
- A missed call (no answer, busy, failed, voicemail) is retried that same morning, at the
  campaign's delays and at most max_attempts that day, but only inside `MORNING_WINDOW` after
  its time: a retry that would fall later is cancelled. Retries are not texted again.
- Pausing a contact (`pause_contact`, the admin, `pause_campaign --contact`) cancels its
  scheduled mornings; resuming plans it again from the next run of the planner.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.dispatch import receiver
from django.utils import timezone

from campaigns import windows
from campaigns.attempts import finish_attempt
from campaigns.do_not_call import is_callable, uncallable
from campaigns.models import (
    EARLIEST_CALL,
    LATEST_CALL,
    Attempt,
    AttemptResult,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Contact,
    PausedContact,
)
from campaigns.signals import attempt_finished
from telephony.models import Text, TextStatus
from telephony.texts import queue_text
from voiceapp.jobs import enqueue

log = logging.getLogger(__name__)

UTC = datetime.UTC
DAILY = Campaign.Recurrence.DAILY
# The text goes this long before its call (setting MORNING_TEXT_LEAD_SECONDS).
TEXT_LEAD = datetime.timedelta(seconds=settings.MORNING_TEXT_LEAD_SECONDS)
# A text still retrying (Twilio unreachable) holds its call back at most this long.
TEXT_PATIENCE = datetime.timedelta(minutes=5)
# Retries of a morning call happen within this long after its time, never later that day.
MORNING_WINDOW = datetime.timedelta(hours=2)
PAUSED = "contact paused"
LATE = "past the morning window"
UNSETTLED = [TextStatus.PENDING, TextStatus.SUBMITTING]


# ---------------------------------------------------------------- when


def call_time(campaign: Campaign) -> datetime.time | None:
    """The local time of the day's call: the campaign's, raised to 8:00 when earlier (the
    floor); None when it is at or after 21:00 (never called)."""
    if campaign.local_time is None or campaign.local_time >= LATEST_CALL:
        return None
    return max(campaign.local_time, EARLIEST_CALL)


def clamp_warning(campaign: Campaign) -> str:
    """What staff should know about the campaign's time of day ("" when nothing)."""
    if campaign.recurrence != DAILY or campaign.local_time is None:
        return ""
    if campaign.local_time >= LATEST_CALL:
        return (
            f"{campaign.local_time:%H:%M} is after 21:00, when no call may be placed: this "
            "campaign will never call. Choose a time between 8:00 and 21:00."
        )
    if campaign.local_time < EARLIEST_CALL:
        return (
            f"No call may be placed before 8:00 in the contact's time: {campaign.name} texts "
            f"and calls at 8:00, not {campaign.local_time:%H:%M}."
        )
    return ""


def _instant(day: datetime.date, at: datetime.time, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def call_at(campaign: Campaign, zone: zoneinfo.ZoneInfo, day: datetime.date) -> datetime.datetime:
    """The instant of the call on the local `day` in `zone` (never from adding 24 h)."""
    at = call_time(campaign)
    assert at is not None, "a campaign without a call time has no call instant"
    return _instant(day, at, zone)


def deadline(campaign: Campaign, zone: zoneinfo.ZoneInfo, day: datetime.date) -> datetime.datetime:
    """The last instant a call (first or retry) of the local `day` may be placed."""
    return min(call_at(campaign, zone, day) + MORNING_WINDOW, _instant(day, LATEST_CALL, zone))


def _chosen(campaign: Campaign, day: datetime.date) -> bool:
    return not campaign.weekdays or day.weekday() in campaign.weekdays  # none chosen: every day


# ---------------------------------------------------------------- the planner


@dataclass
class PlanReport:
    planned: int = 0


def plan_mornings(now: datetime.datetime | None = None) -> PlanReport:
    """Write today's and tomorrow's morning attempt of every contact of every running daily
    campaign (see the module's doc). Safe to run twice."""
    now = now or timezone.now()
    report = PlanReport()
    running = Campaign.objects.filter(status=CampaignStatus.RUNNING, recurrence=DAILY)
    for campaign in running.select_related("tenant"):
        report.planned += plan_campaign(campaign, now)
    return report


def plan_campaign(campaign: Campaign, now: datetime.datetime) -> int:
    """Plan one daily campaign's mornings; returns how many attempts were written."""
    if call_time(campaign) is None:
        return 0
    paused = PausedContact.objects.filter(campaign=campaign).values("contact_id")
    contacts = list(
        Contact.objects.filter(
            lists=campaign.contact_list_id, tenant_id=campaign.tenant_id, opted_out=False
        ).exclude(pk__in=paused)
    )
    blocked = uncallable(campaign.tenant_id, [c.phone for c in contacts])
    first_day = now.date() - datetime.timedelta(days=1)  # the earliest local date anywhere
    have = set(
        Attempt.objects.filter(campaign=campaign, day__gte=first_day, number=1).values_list(
            "contact_id", "day"
        )
    )
    rows = []
    for contact in contacts:
        if contact.phone in blocked:
            continue
        zone = windows.zone_of(contact, campaign.tenant.time_zone)
        today = now.astimezone(zone).date()
        for day in (today, today + datetime.timedelta(days=1)):
            if (contact.pk, day) in have or not _chosen(campaign, day):
                continue
            at = call_at(campaign, zone, day)
            if deadline(campaign, zone, day) <= now or at < campaign.starts_at:
                continue
            if campaign.ends_at is not None and at >= campaign.ends_at:
                continue
            rows.append(Attempt(campaign=campaign, contact=contact, day=day, number=1, due_at=at))
    # ignore_conflicts: a planner running alongside wrote the same row; the constraint wins.
    Attempt.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# ---------------------------------------------------------------- the text, then the call


def text_key(attempt_id: int) -> str:
    return f"attempt-{attempt_id}-morning"


def _key_of_outer_attempt():
    return Concat(Value("attempt-"), Cast(OuterRef("pk"), CharField()), Value("-morning"))


def ready_to_dial(now: datetime.datetime) -> Q:
    """Which due attempts of a daily campaign the dialer may claim: retries; first calls whose
    text left (handed to Twilio, failed or skipped); and any kept waiting past TEXT_PATIENCE."""
    settled = Text.objects.filter(
        tenant_id=OuterRef("campaign__tenant_id"), key=_key_of_outer_attempt()
    ).exclude(status__in=UNSETTLED)
    return Q(number__gt=1) | Q(Exists(settled)) | Q(due_at__lte=now - TEXT_PATIENCE)


def send_due_texts(now: datetime.datetime | None = None) -> int:
    """Queue the text job of every morning attempt due within TEXT_LEAD that has no text yet.
    Returns how many were queued (a job already waiting is not queued twice)."""
    now = now or timezone.now()
    written = Text.objects.filter(
        tenant_id=OuterRef("campaign__tenant_id"), key=_key_of_outer_attempt()
    )
    due = (
        Attempt.objects.filter(
            campaign__status=CampaignStatus.RUNNING,
            campaign__recurrence=DAILY,
            status=AttemptStatus.SCHEDULED,
            number=1,
            due_at__lte=now + TEXT_LEAD,
        )
        .filter(~Exists(written))
        .order_by("due_at")
        .values_list("pk", flat=True)[:500]
    )
    ids = list(due)
    for attempt_id in ids:
        enqueue(
            send_morning_text, attempt_id, job_id=f"morning-text-{attempt_id}", queue="telephony"
        )
    return len(ids)


def affirmations(campaign: Campaign) -> list[str]:
    return [line.strip() for line in campaign.affirmations.splitlines() if line.strip()]


def affirmation_for(campaign: Campaign, day: datetime.date) -> str:
    """The list's affirmation for `day`: the list in turn, one a day, so it varies ("" when
    the list is empty)."""
    lines = affirmations(campaign)
    return lines[day.toordinal() % len(lines)] if lines else ""


WRITER_TIMEOUT_SECONDS = 15.0


def write_affirmation(campaign: Campaign, first_name: str) -> str:
    """An affirmation written by the agent's language model, or "" when it has none (the
    scripted brain) or it failed in any way: the caller falls back to the list."""
    from calls.providers.base import TextDelta
    from campaigns.outcome_model import model_for

    try:
        llm = model_for(campaign.agent)
        if llm is None:
            return ""
        examples = "\n".join(affirmations(campaign)[:5])
        messages = [
            {
                "role": "system",
                "content": "Write one short, warm morning affirmation for a text message: one "
                "or two sentences, under 160 characters, no hashtags, no emoji. Reply with the "
                "affirmation only.",
            },
            {"role": "user", "content": f"Name: {first_name or 'friend'}\nLike:\n{examples}"},
        ]

        async def run() -> str:
            parts = []
            async with asyncio.timeout(WRITER_TIMEOUT_SECONDS):
                async for event in llm.stream(messages, []):
                    if isinstance(event, TextDelta):
                        parts.append(event.text)
            return "".join(parts).strip().strip('"')

        text = asyncio.run(run())
    except Exception as exc:  # any failure of the model: the list is the fallback
        log.warning("morning affirmation model failed: %s", exc or type(exc).__name__)
        return ""
    return text[:300]


def morning_text(attempt: Attempt) -> str:
    """The text of the attempt's morning: a greeting and the day's affirmation ("" when there
    is no affirmation to send)."""
    contact, campaign = attempt.contact, attempt.campaign
    first = (contact.variables or {}).get("first_name") or (
        contact.name.split()[0] if contact.name.strip() else ""
    )
    words = write_affirmation(campaign, first) or affirmation_for(campaign, attempt.day)
    if not words:
        return ""
    return f"Good morning, {first}! {words}" if first else f"Good morning! {words}"


def send_morning_text(attempt_id: int) -> Text | None:
    """The job: text the morning attempt's contact, once (one Text per key). A contact who may
    no longer be called is skipped (attempt and text); a day without an affirmation writes a
    skipped text with the reason, so the call goes ahead and staff see why."""
    attempt = (
        Attempt.objects.select_related("campaign__tenant", "campaign__agent", "contact")
        .select_related("campaign__caller_id")
        .filter(pk=attempt_id, status=AttemptStatus.SCHEDULED)
        .first()
    )
    if attempt is None:
        return None  # claimed, cancelled or finished meanwhile
    campaign, contact = attempt.campaign, attempt.contact
    if contact.opted_out or not is_callable(campaign.tenant_id, contact.phone):
        with transaction.atomic():
            locked = Attempt.objects.select_for_update().filter(
                pk=attempt_id, status=AttemptStatus.SCHEDULED
            )
            if locked.exists():
                finish_attempt(
                    locked.select_related("campaign").get(),
                    status=AttemptStatus.SKIPPED,
                    result=AttemptResult.DO_NOT_CALL,
                    error="opted out or on the do-not-call list",
                )
        return None
    body = morning_text(attempt)
    if not body:
        return _skipped_text(attempt, "The campaign has no affirmations to send.")
    return queue_text(
        tenant_id=campaign.tenant_id,
        to=contact.phone,
        body=body,
        key=text_key(attempt.pk),
        from_number=campaign.caller_id.number,
    )


def _skipped_text(attempt: Attempt, reason: str) -> Text:
    tenant_id = attempt.campaign.tenant_id
    defaults = {
        "to": attempt.contact.phone,
        "from_number": attempt.campaign.caller_id.number,
        "body": "",
        "status": TextStatus.SKIPPED,
        "last_error": reason,
    }
    try:
        with transaction.atomic():
            text, _ = Text.objects.get_or_create(
                tenant_id=tenant_id, key=text_key(attempt.pk), defaults=defaults
            )
    except IntegrityError:  # the same key written alongside
        text = Text.objects.get(tenant_id=tenant_id, key=text_key(attempt.pk))
    return text


@receiver(attempt_finished, dispatch_uid="campaigns.morning.keep_retries_in_the_morning")
def keep_retries_in_the_morning(sender, *, next_attempt_id: int | None = None, **kwargs) -> None:
    """A daily campaign's retry that would fall after its morning window is cancelled: the
    day's call is missed, tomorrow's comes as planned."""
    if next_attempt_id is None:
        return
    attempt = (
        Attempt.objects.select_related("campaign__tenant", "contact")
        .filter(pk=next_attempt_id, campaign__recurrence=DAILY, day__isnull=False)
        .first()
    )
    if attempt is None or call_time(attempt.campaign) is None:
        return
    zone = windows.zone_of(attempt.contact, attempt.campaign.tenant.time_zone)
    if attempt.due_at > deadline(attempt.campaign, zone, attempt.day):
        now = timezone.now()
        Attempt.objects.filter(pk=attempt.pk, status=AttemptStatus.SCHEDULED).update(
            status=AttemptStatus.CANCELLED, error=LATE, ended_at=now, updated_at=now
        )


# ---------------------------------------------------------------- pause and resume per contact


class PauseRefused(Exception):
    """The contact cannot be paused or resumed here; the message says why, for staff."""


def _daily_contact(campaign_id: int, contact_id: int) -> tuple[Campaign, Contact]:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.recurrence != DAILY:
        raise PauseRefused("Only a daily campaign pauses contacts one by one.")
    contact = Contact.objects.filter(
        pk=contact_id, tenant_id=campaign.tenant_id, lists=campaign.contact_list_id
    ).first()
    if contact is None:
        raise PauseRefused(f"The contact is not on the list of {campaign.name}.")
    return campaign, contact


def pause_contact(campaign_id: int, contact_id: int, *, by: str) -> PausedContact:
    """Stop a daily campaign texting and calling one contact: their scheduled mornings are
    cancelled (a call in progress ends normally). Pausing twice changes nothing."""
    with transaction.atomic():
        campaign, contact = _daily_contact(campaign_id, contact_id)
        pause, _ = PausedContact.objects.get_or_create(
            campaign=campaign, contact=contact, defaults={"paused_by": by[:150]}
        )
        now = timezone.now()
        Attempt.objects.filter(
            campaign=campaign, contact=contact, status=AttemptStatus.SCHEDULED
        ).update(status=AttemptStatus.CANCELLED, error=PAUSED, ended_at=now, updated_at=now)
    log.info("morning calls of contact %s paused in campaign %s by %s", contact_id, campaign_id, by)
    return pause


def resume_contact(campaign_id: int, contact_id: int, *, by: str) -> bool:
    """Text and call the contact again: the mornings the pause cancelled (never dialled) are
    removed so the planner writes them again. Returns whether the contact was paused."""
    with transaction.atomic():
        campaign, contact = _daily_contact(campaign_id, contact_id)
        removed, _ = PausedContact.objects.filter(campaign=campaign, contact=contact).delete()
        Attempt.objects.filter(
            campaign=campaign,
            contact=contact,
            status=AttemptStatus.CANCELLED,
            error=PAUSED,
            call__isnull=True,
        ).delete()
    log.info(
        "morning calls of contact %s resumed in campaign %s by %s", contact_id, campaign_id, by
    )
    return bool(removed)
