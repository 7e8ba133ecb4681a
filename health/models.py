"""Provider health: each provider's current state and the history of its checks.

A provider is either the platform's (an API key in the settings: Deepgram, ElevenLabs, Groq,
the OpenAI-compatible endpoint; no tenant, superusers only) or a tenant's (one of its Twilio
accounts). The state row is what changes; a check row is written for every probe.
"""

from __future__ import annotations

from django.db import models

from voiceapp.models import Tenant


class Notice(models.TextChoices):
    NONE = "", "None"
    FAILED = "failed", "Failed"
    RECOVERED = "recovered", "Recovered"


class ProviderStatus(models.Model):
    """One provider's state now. `pending_notice` is the transition not yet told to the owners:
    set in the same transaction as the state, cleared once the email went out."""

    # "deepgram", "groq", ... or "twilio:<account sid>": unique across tenants (a SID is).
    key = models.CharField(max_length=80, unique=True)
    label = models.CharField(max_length=160)
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    twilio_account = models.ForeignKey(
        "telephony.TwilioAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    ok = models.BooleanField(null=True, help_text="Empty until the first check.")
    failing_since = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    pending_notice = models.CharField(max_length=10, choices=Notice.choices, blank=True)

    class Meta:
        ordering = ["tenant_id", "key"]
        verbose_name = "system health"
        verbose_name_plural = "system health"

    def __str__(self) -> str:
        return self.label

    @property
    def platform(self) -> bool:
        return self.tenant_id is None


class ProviderCheck(models.Model):
    """One probe of a provider: did the authenticated request succeed, and how fast."""

    tenant_path = "status__tenant"

    status = models.ForeignKey(ProviderStatus, on_delete=models.CASCADE, related_name="checks")
    ok = models.BooleanField()
    latency_ms = models.PositiveIntegerField()
    error = models.TextField(blank=True)
    checked_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.status.key} {'ok' if self.ok else 'failed'} at {self.checked_at:%H:%M:%S}"
