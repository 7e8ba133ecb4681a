"""A tenant's prices per unit of what its calls use (calls.usage)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from voiceapp.models import Tenant

PRICE = {"max_digits": 12, "decimal_places": 6, "null": True, "blank": True}
PRICE_HELP = " Blank: the platform's default (settings)."


class TenantPricing(models.Model):
    """What a tenant pays per unit, per role (its owners set it). Offline providers (local
    Whisper, the scripted brain, Piper, eSpeak) cost nothing whatever the prices say."""

    owner_only = True
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="pricing")
    currency = models.CharField(max_length=3, blank=True, help_text="ISO code." + PRICE_HELP)
    carrier_per_minute = models.DecimalField(
        **PRICE, help_text="Per started minute of a call." + PRICE_HELP
    )
    stt_per_minute = models.DecimalField(**PRICE, help_text="Per minute of audio." + PRICE_HELP)
    llm_per_million_input = models.DecimalField(
        **PRICE, help_text="Per million input tokens." + PRICE_HELP
    )
    llm_per_million_output = models.DecimalField(
        **PRICE, help_text="Per million output tokens." + PRICE_HELP
    )
    tts_per_thousand_chars = models.DecimalField(
        **PRICE, help_text="Per thousand characters spoken." + PRICE_HELP
    )

    class Meta:
        verbose_name_plural = "tenant pricing"

    def __str__(self) -> str:
        return f"Prices for {self.tenant}"

    def price(self, name: str) -> Decimal:
        """This tenant's price `name`, or the settings' default."""
        value = getattr(self, name)
        return value if value is not None else Decimal(settings.CALL_PRICES[name])

    @property
    def currency_code(self) -> str:
        return self.currency or settings.CALL_PRICES["currency"]
