"""The carrier side of a tenant: its Twilio accounts and phone numbers."""

from __future__ import annotations

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import models

from voiceapp.crypto import EncryptedTextField
from voiceapp.models import TenantOwned


def normalize_e164(value: str, region: str | None = None) -> str:
    """`value` as an E.164 number; ValidationError when it is not a valid phone number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"{value!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")


def validate_account_sid(value: str) -> None:
    """ValidationError unless `value` looks like a Twilio account SID."""
    if not _ACCOUNT_SID.fullmatch(value or ""):
        raise ValidationError(
            f"{value!r} is not an account SID: 'AC' and 32 hex characters, "
            "as in Twilio's console (Account Info)."
        )


class TwilioAccount(TenantOwned):
    """A Twilio account (or subaccount). Its auth token signs every webhook and stream."""

    owner_only = True  # its token forges webhooks: only a tenant's owners add, change, delete

    name = models.CharField(max_length=120, default="Main")
    account_sid = models.CharField(max_length=64, unique=True)
    auth_token = EncryptedTextField(help_text="Stored encrypted with ENCRYPTION_KEY.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_sid})"

    def clean(self) -> None:
        try:
            validate_account_sid(self.account_sid)
        except ValidationError as exc:
            raise ValidationError({"account_sid": exc.messages}) from None


class PhoneNumber(TenantOwned):
    """A number the tenant owns, and the agent that answers it."""

    account = models.ForeignKey(TwilioAccount, on_delete=models.PROTECT, related_name="numbers")
    number = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +14155550100")
    friendly_name = models.CharField(max_length=120, blank=True)
    agent = models.ForeignKey(
        "calls.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="numbers"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return self.friendly_name or self.number

    def clean(self) -> None:
        self.number = normalize_e164(self.number)
        errors = {}
        if self.account_id and self.tenant_id and self.account.tenant_id != self.tenant_id:
            errors["account"] = "This account belongs to another tenant."
        if self.agent_id and self.tenant_id and self.agent.tenant_id != self.tenant_id:
            errors["agent"] = "This agent belongs to another tenant."
        if errors:
            raise ValidationError(errors)


class TextStatus(models.TextChoices):
    """A text's life: ours until Twilio takes it (pending, submitting), then Twilio's."""

    PENDING = "pending", "Pending"  # written; waiting for its first or next attempt
    SUBMITTING = "submitting", "Submitting"  # a worker is handing it to Twilio
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (opted out)"


# How far along each status is: a status only ever moves to a higher rank, so a late or
# repeated callback ("sent" after "delivered") changes nothing.
TEXT_STATUS_RANK = {
    TextStatus.PENDING: 0,
    TextStatus.SUBMITTING: 1,
    TextStatus.QUEUED: 2,
    TextStatus.SENDING: 3,
    TextStatus.SENT: 4,
    TextStatus.DELIVERED: 5,
    TextStatus.UNDELIVERED: 5,
    TextStatus.FAILED: 5,
    TextStatus.SKIPPED: 5,
}
TEXT_FINAL = {s for s, rank in TEXT_STATUS_RANK.items() if rank == 5}


class Text(TenantOwned):
    """One SMS to one person, written before it is sent. `key` names what it is about
    (`order-12-ready`): one text per key per tenant, however often its cause repeats."""

    key = models.CharField(max_length=120)
    to = models.CharField(max_length=20, help_text="E.164")
    from_number = models.CharField(max_length=20, blank=True, help_text="E.164")
    body = models.TextField()
    status = models.CharField(max_length=12, choices=TextStatus.choices, default=TextStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    twilio_sid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="one_text_per_key"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["twilio_sid"]),
        ]

    def __str__(self) -> str:
        return f"Text to {self.to} ({self.key})"


class TextOptOut(TenantOwned):
    """A person who replied STOP to one of the tenant's numbers: nothing more is sent to them
    until they reply START (the row then says `opted_out=False`)."""

    phone = models.CharField(max_length=20, help_text="E.164")
    opted_out = models.BooleanField(default=True)
    keyword = models.CharField(max_length=20, blank=True, help_text="What they replied.")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-changed_at"]
        verbose_name = "text opt-out"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone"], name="one_opt_out_per_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} ({'opted out' if self.opted_out else 'subscribed'})"

    def clean(self) -> None:
        if self.phone:
            self.phone = normalize_e164(self.phone)
