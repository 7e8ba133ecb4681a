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
