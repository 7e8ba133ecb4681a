"""Writing a call's usage and cost when it ends."""

from __future__ import annotations

from django.utils import timezone

from analytics.pricing import cost_of, pricing_for
from calls.hooks import on_call_end
from calls.models import Call
from calls.tools import ToolContext
from calls.usage import UsageMeter


def record_usage(call_id: int, meter: UsageMeter) -> Call | None:
    """Store the call's usage (the meter's counts and the carrier's seconds: its duration, or
    from answer to now while the carrier's final status is still to come) and its cost at
    the tenant's prices. Safe to run twice: it overwrites, it never adds."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return None
    usage = meter.as_json()
    if not call.twilio_call_sid:
        seconds = 0  # not through the carrier (a test call from the browser): no minutes billed
    elif call.duration_seconds is not None:
        seconds = call.duration_seconds
    elif call.answered_at is not None:
        seconds = max(0, int((timezone.now() - call.answered_at).total_seconds()))
    else:
        seconds = 0
    usage["carrier"] = {"seconds": seconds}
    pricing = pricing_for(call.tenant_id)
    call.usage = usage
    call.cost = cost_of(usage, pricing)
    call.cost_currency = pricing.currency_code
    call.save(update_fields=["usage", "cost", "cost_currency", "updated_at"])
    return call


@on_call_end
def record_call_usage(ctx: ToolContext, outcome: str) -> None:
    record_usage(ctx.call_id, ctx.state(UsageMeter))
