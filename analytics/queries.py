"""A tenant's figures for a period, aggregated in the database.

Every query filters one tenant and a [start, end) window of `created_at` first, so PostgreSQL
walks the (tenant, created_at) indexes instead of the whole table (tests/test_query_plans.py),
and groups and counts there: a million calls never come to Python. Days are the tenant's
local days. Percentiles use PostgreSQL's percentile_cont; other databases (SQLite) get the
same figure from Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Aggregate, Avg, Count, F, FloatField, Q, Sum
from django.db.models.functions import TruncDate

from calls.models import Call, CallEvent, Turn
from campaigns.models import Attempt, AttemptResult
from orders.models import Order
from voiceapp.models import Tenant


@dataclass(frozen=True)
class Period:
    """A tenant and the local days from `first` to `last`, both included."""

    tenant: Tenant
    first: date
    last: date

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tenant.time_zone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=self.zone)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def calls(self):
        return Call.objects.filter(
            tenant=self.tenant, created_at__gte=self.start, created_at__lt=self.end
        )


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile (linear interpolation between the nearest ranks)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        fraction = float(fraction)  # interpolated into the SQL: a number, nothing else
        if not 0 <= fraction <= 1:
            raise ValueError(f"a percentile is between 0 and 1, not {fraction}")
        super().__init__(expression, fraction=fraction, **extra)


def percentile(values: list[float], fraction: float) -> float | None:
    """percentile_cont's figure, computed in Python (the SQLite fallback)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _day(period: Period, field: str = "created_at") -> TruncDate:
    return TruncDate(field, tzinfo=period.zone)


ANSWERED = Q(answered_at__isnull=False)


def summary(period: Period) -> dict[str, Any]:
    """Totals for the period: calls, answered, answer rate, durations, cost, unheard,
    fallbacks."""
    totals = period.calls().aggregate(
        calls=Count("pk"),
        answered=Count("pk", filter=ANSWERED),
        average_duration=Avg("duration_seconds", filter=ANSWERED),
        total_duration=Sum("duration_seconds"),
        cost=Sum("cost"),
    )
    events = CallEvent.objects.filter(
        call__in=period.calls().values("pk"),
        kind__in=[CallEvent.Kind.UNHEARD, CallEvent.Kind.FALLBACK],
    ).aggregate(
        unheard=Count("pk", filter=Q(kind=CallEvent.Kind.UNHEARD)),
        fallbacks=Count("pk", filter=Q(kind=CallEvent.Kind.FALLBACK)),
    )
    calls, answered = totals["calls"], totals["answered"]
    average = totals["average_duration"]
    return {
        "calls": calls,
        "answered": answered,
        "answer_rate": round(answered / calls, 4) if calls else None,
        "average_duration": round(average, 1) if average is not None else None,
        "total_duration": totals["total_duration"] or 0,
        "cost": totals["cost"] or Decimal(0),
        **events,
    }


def calls_per_day(period: Period) -> list[dict[str, Any]]:
    """Rows of (day, direction, outcome, calls, answered, average duration, cost)."""
    rows = (
        period.calls()
        .annotate(day=_day(period))
        .values("day", "direction", "outcome")
        .annotate(
            calls=Count("pk"),
            answered=Count("pk", filter=ANSWERED),
            average_duration=Avg("duration_seconds", filter=ANSWERED),
            cost=Sum("cost"),
        )
        .order_by("day", "direction", "outcome")
    )
    return [
        {
            **row,
            "outcome": row["outcome"] or "(none)",
            "average_duration": (
                round(row["average_duration"], 1) if row["average_duration"] is not None else None
            ),
        }
        for row in rows
    ]


def fallbacks_by_role(period: Period) -> list[dict[str, Any]]:
    """How often each role fell back to its second provider."""
    rows = (
        CallEvent.objects.filter(call__in=period.calls().values("pk"), kind=CallEvent.Kind.FALLBACK)
        .values(role=F("data__role"))
        .annotate(count=Count("pk"))
        .order_by("role")
    )
    return [{"role": row["role"] or "?", "count": row["count"]} for row in rows]


def latency_by_provider(period: Period) -> list[dict[str, Any]]:
    """Agent turns' latency (caller's end of speech to first audio sent) p50 and p95, by the
    providers the call's agent was set up with (LLM + TTS)."""
    turns = Turn.objects.filter(
        call__in=period.calls().values("pk"),
        speaker=Turn.Speaker.AGENT,
        latency_ms__isnull=False,
    ).values(llm=F("call__agent__llm_provider"), tts=F("call__agent__tts_provider"))
    if connection.vendor == "postgresql":
        rows = turns.annotate(
            turns=Count("pk"),
            p50=Percentile("latency_ms", 0.5),
            p95=Percentile("latency_ms", 0.95),
        ).order_by("llm", "tts")
        return [
            {**row, "p50": round(row["p50"]), "p95": round(row["p95"])}
            for row in rows
            if row["turns"]
        ]
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in turns.values_list(
        "call__agent__llm_provider", "call__agent__tts_provider", "latency_ms"
    ):
        groups[(row[0], row[1])].append(row[2])
    return [
        {
            "llm": llm,
            "tts": tts,
            "turns": len(values),
            "p50": round(percentile(values, 0.5)),
            "p95": round(percentile(values, 0.95)),
        }
        for (llm, tts), values in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
    ]


def orders_per_day(period: Period) -> list[dict[str, Any]]:
    """Orders and revenue per local day (every day of the period, zero when none)."""
    rows = (
        Order.objects.filter(
            tenant=period.tenant, created_at__gte=period.start, created_at__lt=period.end
        )
        .annotate(day=_day(period))
        .values("day")
        .annotate(orders=Count("pk"), revenue=Sum("total"))
    )
    found = {row["day"]: row for row in rows}
    return [
        {
            "day": day,
            "orders": found.get(day, {}).get("orders", 0),
            "revenue": found.get(day, {}).get("revenue") or Decimal(0),
        }
        for day in period.days()
    ]


def campaign_funnels(period: Period) -> list[dict[str, Any]]:
    """Per campaign: attempts dialed → answered → by a person → with an outcome."""
    rows = (
        Attempt.objects.filter(
            campaign__tenant=period.tenant,
            dialed_at__gte=period.start,
            dialed_at__lt=period.end,
        )
        .values(campaign_name=F("campaign__name"))
        .annotate(
            dialed=Count("pk"),
            answered=Count(
                "pk",
                filter=Q(call__answered_at__isnull=False)
                | Q(result__in=[AttemptResult.HUMAN, AttemptResult.VOICEMAIL]),
            ),
            human=Count("pk", filter=Q(result=AttemptResult.HUMAN)),
            outcome=Count("pk", filter=~Q(outcome="")),
        )
        .order_by("campaign_name")
    )
    return list(rows)


def report(period: Period) -> dict[str, Any]:
    """Everything the analytics page shows."""
    return {
        "summary": summary(period),
        "calls_per_day": calls_per_day(period),
        "latency": latency_by_provider(period),
        "fallbacks": fallbacks_by_role(period),
        "orders_per_day": orders_per_day(period),
        "funnels": campaign_funnels(period),
    }


def chart_data(period: Period, figures: dict[str, Any]) -> dict[str, Any]:
    """The charts' series (JSON-ready): calls per day by direction and answered, orders and
    revenue per day, latency per provider, the funnels."""
    days = period.days()
    index = {day: n for n, day in enumerate(days)}
    by_direction: dict[str, list[int]] = {d: [0] * len(days) for d in Call.Direction.values}
    answered = [0] * len(days)
    for row in figures["calls_per_day"]:
        by_direction[row["direction"]][index[row["day"]]] += row["calls"]
        answered[index[row["day"]]] += row["answered"]
    return {
        "days": [d.isoformat() for d in days],
        "calls": by_direction,
        "answered": answered,
        "orders": [r["orders"] for r in figures["orders_per_day"]],
        "revenue": [float(r["revenue"]) for r in figures["orders_per_day"]],
        "latency": {
            "labels": [f"{r['llm']} + {r['tts']}" for r in figures["latency"]],
            "p50": [r["p50"] for r in figures["latency"]],
            "p95": [r["p95"] for r in figures["latency"]],
        },
        "funnels": [
            {
                "campaign": r["campaign_name"],
                "steps": [r["dialed"], r["answered"], r["human"], r["outcome"]],
            }
            for r in figures["funnels"]
        ],
    }
