"""A call's cost: its recorded usage at its tenant's prices."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from analytics.models import TenantPricing

# Providers that run on our own machine: no bill per unit.
OFFLINE = {"local_whisper", "scripted", "piper", "espeak"}


def pricing_for(tenant_id: int) -> TenantPricing:
    """The tenant's prices (an unsaved row of defaults when it has set none)."""
    return TenantPricing.objects.filter(tenant_id=tenant_id).first() or TenantPricing(
        tenant_id=tenant_id
    )


def cost_of(usage: dict[str, Any], pricing: TenantPricing) -> Decimal:
    """The price of `usage` (Call.usage's shape), rounded to 1/10000 of the currency."""
    total = Decimal(0)
    carrier = usage.get("carrier", {})
    # Carriers bill each started minute.
    total += math.ceil(carrier.get("seconds", 0) / 60) * pricing.price("carrier_per_minute")
    for provider, row in usage.get("stt", {}).items():
        if provider not in OFFLINE:
            minutes = Decimal(str(row.get("audio_seconds", 0))) / 60
            total += minutes * pricing.price("stt_per_minute")
    for provider, row in usage.get("llm", {}).items():
        if provider not in OFFLINE:
            total += row.get("input_tokens", 0) * pricing.price("llm_per_million_input") / 10**6
            total += row.get("output_tokens", 0) * pricing.price("llm_per_million_output") / 10**6
    for provider, row in usage.get("tts", {}).items():
        if provider not in OFFLINE:
            total += row.get("characters", 0) * pricing.price("tts_per_thousand_chars") / 1000
    return total.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
