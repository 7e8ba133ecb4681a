"""A known set of calls, turns, events, orders and campaign attempts for tenant A (and a few
of tenant B's and outside the period, which must not count)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from analytics.queries import Period
from calls.models import Call, CallEvent, Turn
from campaigns.models import Attempt, AttemptResult, AttemptStatus, Campaign, Contact, ContactList
from orders.models import Menu, Order

NEW_YORK = ZoneInfo("America/New_York")
FIRST, LAST = date(2026, 11, 2), date(2026, 11, 3)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=NEW_YORK)


def make_call(world, when, direction, outcome, *, duration=None, cost=None) -> Call:
    call = Call.objects.create(
        tenant=world.tenant,
        agent=world.agent,
        direction=direction,
        from_number="+14155550000",
        to_number=world.number.number,
        status="completed",
        outcome=outcome,
        answered_at=when if duration is not None else None,
        duration_seconds=duration,
        cost=cost,
        cost_currency="USD" if cost is not None else "",
    )
    Call.objects.filter(pk=call.pk).update(created_at=when)  # auto_now_add otherwise
    return call


@dataclass
class Known:
    period: Period
    calls: list[Call]


@pytest.fixture
def known(world_a, world_b) -> Known:
    world_a.tenant.time_zone = "America/New_York"
    world_a.tenant.save(update_fields=["time_zone"])
    c1 = make_call(world_a, at(2, 10), "inbound", "order_placed", duration=60, cost=Decimal("0.1"))
    c2 = make_call(world_a, at(2, 11), "inbound", "order_placed", duration=120, cost=Decimal("0.2"))
    c3 = make_call(world_a, at(2, 12), "outbound", "no_answer")
    # 22:00 in New York is already the 4th in UTC: it counts on the tenant's 3rd.
    c4 = make_call(world_a, at(3, 22), "outbound", "interested", duration=30, cost=Decimal("0.05"))
    make_call(world_a, at(5, 10), "inbound", "order_placed", duration=999)  # after the period
    make_call(world_b, at(2, 10), "inbound", "order_placed", duration=500, cost=Decimal("9"))

    for n, (call, latency) in enumerate([(c1, 100), (c1, 200), (c2, 300), (c4, 400)]):
        Turn.objects.create(
            call=call,
            index=n,
            speaker="agent",
            text="Sure.",
            started_at=call.answered_at,
            latency_ms=latency,
        )
    Turn.objects.create(
        call=c1, index=9, speaker="caller", text="Hi", started_at=at(2, 10), latency_ms=5000
    )  # a caller's turn: not an agent's latency
    CallEvent.objects.create(call=c1, kind="unheard", data={"seconds": 1.2})
    CallEvent.objects.create(call=c2, kind="unheard", data={"seconds": 0.8})
    CallEvent.objects.create(call=c2, kind="fallback", data={"role": "tts"})
    CallEvent.objects.create(call=world_b.call, kind="fallback", data={"role": "llm"})

    menu = Menu.objects.create(tenant=world_a.tenant, name="Coffee")
    for n, (when, total) in enumerate(
        [(at(2, 9), "12.50"), (at(2, 15), "7.50"), (at(3, 9), "5.00"), (at(6, 9), "99.00")]
    ):
        Order.objects.create(
            tenant=world_a.tenant,
            menu=menu,
            number=f"A{n}",
            business_date=when.date(),
            phone="+14155550000",
            total=Decimal(total),
            created_at=when,
        )

    contacts = ContactList.objects.create(tenant=world_a.tenant, name="Customers")
    campaign = Campaign.objects.create(
        tenant=world_a.tenant,
        name="Winter offer",
        agent=world_a.agent,
        contact_list=contacts,
        caller_id=world_a.number,
    )
    results = [
        (AttemptResult.HUMAN, c4, "interested"),
        (AttemptResult.VOICEMAIL, None, ""),
        (AttemptResult.NO_ANSWER, c3, ""),
    ]
    for n, (result, call, outcome) in enumerate(results):
        contact = Contact.objects.create(tenant=world_a.tenant, phone=f"+1415555020{n}")
        Attempt.objects.create(
            campaign=campaign,
            contact=contact,
            status=AttemptStatus.DONE,
            result=result,
            call=call,
            outcome=outcome,
            dialed_at=at(3, 9) + timedelta(minutes=n),
        )
    return Known(Period(world_a.tenant, FIRST, LAST), [c1, c2, c3, c4])
