"""Outbound campaigns: who to call (contacts and lists), who never to call (do-not-call), and how
(a campaign: agent, caller ID, calling windows, caps, retries, answering-machine policy), with
one Attempt row per dial, claimed before it is dialled, so no contact is dialled twice.

The recurring "morning call" is a campaign with a recurrence: every chosen weekday at a local
time, a text first, then a short call; one Attempt per contact per day.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from voiceapp.models import Tenant, TenantOwned, validate_time_zone

# US telephone-solicitation hours (47 CFR 64.1200(c)(1)): no call before 8:00 or after 21:00 in
# the callee's local time. No window setting can widen this floor.
EARLIEST_CALL = datetime.time(8, 0)
LATEST_CALL = datetime.time(21, 0)
MIN_RING_SECONDS = 15


class Contact(TenantOwned):
    phone = models.CharField(max_length=20, help_text="E.164, e.g. +14155550123.")
    name = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Blank: derived from the number where it has one time zone, else the tenant's.",
    )
    variables = models.JSONField(
        default=dict, blank=True, help_text='Used by the agent\'s texts: {"first_name": "Ada"}.'
    )
    opted_out = models.BooleanField(default=False, help_text="Never call or text.")
    opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "phone"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone"], name="one_contact_per_phone")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})" if self.name else self.phone


class ContactList(TenantOwned):
    name = models.CharField(max_length=120)
    contacts = models.ManyToManyField(Contact, blank=True, related_name="lists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="contact_list_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class DoNotCall(models.Model):
    """A number nobody may dial: a tenant's own list, or (tenant empty) the global list that
    only superusers manage and every tenant honours."""

    class Source(models.TextChoices):
        ADMIN = "admin", "Added in the admin"
        IMPORT = "import", "Imported"
        CALL = "call", "Asked during a call"
        TEXT = "text", "Replied STOP"
        API = "api", "API"

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    phone = models.CharField(max_length=20)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    note = models.CharField(max_length=300, blank=True)
    call = models.ForeignKey("calls.Call", on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "do-not-call number"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "phone"],
                condition=Q(tenant__isnull=False),
                name="dnc_once_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=Q(tenant__isnull=True), name="dnc_once_globally"
            ),
        ]
        indexes = [models.Index(fields=["phone"])]

    def __str__(self) -> str:
        return f"{self.phone} ({'global' if self.tenant_id is None else self.tenant})"


class AnsweringMachinePolicy(models.TextChoices):
    HANG_UP = "hang_up", "Hang up"
    LEAVE_MESSAGE = "leave_message", "Leave a message after the beep"
    TALK = "talk", "Talk as to a person"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


CAMPAIGN_MOVES: dict[str, set[str]] = {
    CampaignStatus.DRAFT: {CampaignStatus.RUNNING, CampaignStatus.CANCELLED},
    CampaignStatus.RUNNING: {
        CampaignStatus.PAUSED,
        CampaignStatus.COMPLETED,
        CampaignStatus.CANCELLED,
    },
    CampaignStatus.PAUSED: {CampaignStatus.RUNNING, CampaignStatus.CANCELLED},
    CampaignStatus.COMPLETED: set(),
    CampaignStatus.CANCELLED: set(),
}


class Campaign(TenantOwned):
    class Recurrence(models.TextChoices):
        ONCE = "once", "Once through the list"
        DAILY = "daily", "Every chosen weekday (the morning call)"

    name = models.CharField(max_length=120)
    agent = models.ForeignKey("calls.Agent", on_delete=models.PROTECT, related_name="campaigns")
    contact_list = models.ForeignKey(ContactList, on_delete=models.PROTECT, related_name="+")
    caller_id = models.ForeignKey(
        "telephony.PhoneNumber",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The tenant's number the calls come from.",
    )
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    status_reason = models.CharField(
        max_length=300, blank=True, help_text="Why it is paused or ended, when not by staff."
    )
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_concurrent_calls = models.PositiveIntegerField(default=2, validators=[MinValueValidator(1)])
    max_attempts = models.PositiveIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    retry_no_answer_minutes = models.PositiveIntegerField(default=60)
    retry_busy_minutes = models.PositiveIntegerField(default=15)
    retry_failed_minutes = models.PositiveIntegerField(default=30)
    retry_voicemail_minutes = models.PositiveIntegerField(default=240)
    ring_seconds = models.PositiveIntegerField(
        default=25, validators=[MinValueValidator(MIN_RING_SECONDS), MaxValueValidator(60)]
    )
    machine_policy = models.CharField(
        max_length=16,
        choices=AnsweringMachinePolicy.choices,
        default=AnsweringMachinePolicy.HANG_UP,
    )
    voicemail_template = models.TextField(
        blank=True, help_text="Left after the beep; may use the contact's {variables}."
    )
    disclose_automation = models.BooleanField(
        default=True,
        help_text="The opening names the business and says this is an automated assistant "
        "(the agent's greeting must use {disclosure}).",
    )
    transfer_number = models.CharField(
        max_length=20, blank=True, help_text="A person to transfer to, E.164."
    )
    outcome_fields = models.JSONField(
        default=list,
        blank=True,
        help_text='Filled from each call\'s transcript: ["interested", "callback_time"].',
    )
    text_before = models.TextField(blank=True, help_text="Texted before the call (template).")
    text_after = models.TextField(blank=True, help_text="Texted after an answered call.")
    # The morning call: a recurrence at a local time on chosen weekdays.
    recurrence = models.CharField(max_length=8, choices=Recurrence.choices, default=Recurrence.ONCE)
    local_time = models.TimeField(
        null=True, blank=True, help_text="Daily campaigns: when, in each contact's time."
    )
    weekdays = models.JSONField(
        default=list, blank=True, help_text="Daily campaigns: 0 = Monday … 6 = Sunday."
    )
    affirmations = models.TextField(
        blank=True, help_text="Daily campaigns: one text per line, one picked per day."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="campaign_name_per_tenant")
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The end must come after the start."})
        if self.machine_policy == AnsweringMachinePolicy.LEAVE_MESSAGE and not (
            self.voicemail_template.strip()
        ):
            raise ValidationError({"voicemail_template": "Leaving a message needs its text."})
        if self.recurrence == self.Recurrence.DAILY and self.local_time is None:
            raise ValidationError({"local_time": "A daily campaign needs a time of day."})
        if any(not isinstance(d, int) or not 0 <= d <= 6 for d in self.weekdays or []):
            raise ValidationError({"weekdays": "Weekdays are numbers 0 (Monday) to 6 (Sunday)."})

    def may_become(self, status: str) -> bool:
        return status in CAMPAIGN_MOVES.get(self.status, set())

    def retry_delay(self, result: str) -> datetime.timedelta | None:
        minutes = {
            AttemptResult.NO_ANSWER: self.retry_no_answer_minutes,
            AttemptResult.BUSY: self.retry_busy_minutes,
            AttemptResult.FAILED: self.retry_failed_minutes,
            AttemptResult.VOICEMAIL: self.retry_voicemail_minutes,
        }.get(result)
        return None if minutes is None else datetime.timedelta(minutes=minutes)


class CallingWindow(models.Model):
    """When a campaign may call, per weekday, in each contact's local time (and never outside
    8:00-21:00 there, whatever is set here)."""

    tenant_path = "campaign__tenant"
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="windows")
    weekday = models.IntegerField(
        choices=[(i, d) for i, d in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))]
    )
    starts = models.TimeField(default=datetime.time(9, 0))
    ends = models.TimeField(default=datetime.time(18, 0))

    class Meta:
        ordering = ["weekday", "starts"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"

    def clean(self) -> None:
        if self.starts >= self.ends:
            raise ValidationError("A window ends after it starts (same day).")


class TenantDialing(models.Model):
    """A tenant's cap on outbound calls in flight across all its campaigns."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="dialing")
    max_concurrent_calls = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = "tenant dialing limit"

    def __str__(self) -> str:
        return f"{self.tenant}: {self.max_concurrent_calls} calls at once"


class AttemptStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"  # waiting for its time (and window, and a free slot)
    CLAIMED = "claimed", "Claimed"  # taken by the scheduler, its dial job queued
    DIALING = "dialing", "Dialing"  # the dial job is asking Twilio
    RINGING = "ringing", "Ringing"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"  # do-not-call, opted out, campaign over
    CANCELLED = "cancelled", "Cancelled"


IN_FLIGHT = (
    AttemptStatus.CLAIMED,
    AttemptStatus.DIALING,
    AttemptStatus.RINGING,
    AttemptStatus.IN_PROGRESS,
)


class AttemptResult(models.TextChoices):
    HUMAN = "human", "Answered by a person"
    VOICEMAIL = "voicemail", "Answering machine"
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    FAILED = "failed", "Failed at the carrier"
    DO_NOT_CALL = "do_not_call", "Do not call"
    LOST = "lost", "Lost (worker died; not dialled)"


class Attempt(models.Model):
    """One dial of one contact for one campaign. Written (scheduled) before anything acts on
    it; claimed with a conditional update before its dial job is queued."""

    tenant_path = "campaign__tenant"
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="attempts")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField(default=1, help_text="1 for the first try.")
    day = models.DateField(
        null=True, blank=True, help_text="Daily campaigns: the contact's local date."
    )
    status = models.CharField(
        max_length=12, choices=AttemptStatus.choices, default=AttemptStatus.SCHEDULED
    )
    result = models.CharField(max_length=12, choices=AttemptResult.choices, blank=True)
    due_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    dialed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    call = models.OneToOneField(
        "calls.Call", on_delete=models.SET_NULL, null=True, blank=True, related_name="attempt"
    )
    answered_by = models.CharField(max_length=24, blank=True, help_text="Twilio's AnsweredBy.")
    outcome = models.CharField(
        max_length=40, blank=True, help_text="interested, not_interested, callback, ..."
    )
    outcome_data = models.JSONField(default=dict, blank=True)
    callback_at = models.DateTimeField(null=True, blank=True)
    text_sent = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "contact", "number"],
                condition=Q(day__isnull=True),
                name="one_attempt_number_per_contact",
            ),
            models.UniqueConstraint(
                fields=["campaign", "contact", "day", "number"],
                condition=Q(day__isnull=False),
                name="one_attempt_number_per_contact_day",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["campaign", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.contact} #{self.number}"


class PausedContact(models.Model):
    """A contact whose calls (and texts) a daily campaign skips until resumed: the person is
    away, or asked for a break. Written and removed by campaigns.morning's actions."""

    tenant_path = "campaign__tenant"
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="paused")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    paused_by = models.CharField(max_length=150, blank=True)
    paused_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paused_at"]
        verbose_name = "paused morning-call contact"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="pause_once_per_contact")
        ]

    def __str__(self) -> str:
        return f"{self.contact} (paused in {self.campaign})"
