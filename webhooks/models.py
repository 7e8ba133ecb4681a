"""A tenant's webhook endpoints (its own systems: a till, a kitchen display, a CRM) and every
delivery made to them, with the last response, for the admin to show and redeliver."""

from __future__ import annotations

import json
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from voiceapp.crypto import EncryptedTextField
from voiceapp.models import TenantOwned


class WebhookEndpoint(TenantOwned):
    """Where the tenant's events are POSTed, signed with the endpoint's secret."""

    owner_only = True  # its URL receives customers' orders: only owners set it

    name = models.CharField(max_length=120, default="Orders")
    url = models.URLField(max_length=500, help_text="HTTPS URL that receives the JSON POSTs.")
    secret = EncryptedTextField(help_text="Signs each delivery. Stored encrypted, never shown.")
    events = models.CharField(
        max_length=300,
        blank=True,
        help_text="Comma-separated event names (e.g. order.created, order.status_changed); "
        "blank for all.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    def wants(self, event: str) -> bool:
        names = {e.strip() for e in self.events.split(",") if e.strip()}
        return not names or event in names


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its first or next attempt
    DELIVERING = "delivering", "Delivering"  # a worker is posting it
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # retries exhausted, or the endpoint is off


class Delivery(TenantOwned):
    """One event for one endpoint. `key` names what it is about (`order-12-ready`): one
    delivery per key per endpoint. `uid` goes out as X-Webhook-Delivery, the same on every
    attempt, so a receiver can drop a repeat."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=60)
    key = models.CharField(max_length=120)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 2 KB of the last answer.")
    last_error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "key"], name="one_delivery_per_key"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} ({self.key})"

    def body(self) -> bytes:
        """The JSON posted: the same bytes on every attempt."""
        envelope = {
            "id": str(self.uid),
            "event": self.event,
            "created_at": self.created_at,
            "data": self.payload,
        }
        return json.dumps(
            envelope, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")
        ).encode()
