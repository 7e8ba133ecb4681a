"""Order numbers a caller can say and hear: a short sequence per tenant per business day.

The day is the tenant's local date. Numbers start at 101 (three digits are easy to read back
digit by digit and do not sound like a quantity) and go up by one; the counter row is locked
for the increment, so concurrent checkouts never share a number.
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from orders.models import OrderCounter
from voiceapp.models import Tenant

FIRST_NUMBER = 101


def business_date(tenant: Tenant, at: datetime.datetime | None = None) -> datetime.date:
    return (at or timezone.now()).astimezone(tenant.zone).date()


def next_number(tenant: Tenant, day: datetime.date) -> str:
    """The next number for `tenant` on `day`. Must run inside the checkout's transaction."""
    assert transaction.get_connection().in_atomic_block, "next_number needs a transaction"
    counter = _counter(tenant, day)
    OrderCounter.objects.filter(pk=counter.pk).update(last=F("last") + 1)
    last = OrderCounter.objects.values_list("last", flat=True).get(pk=counter.pk)
    return str(FIRST_NUMBER + last - 1)


def _counter(tenant: Tenant, day: datetime.date) -> OrderCounter:
    found = OrderCounter.objects.filter(tenant=tenant, business_date=day).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():  # a savepoint: a racing checkout may create it first
            return OrderCounter.objects.create(tenant=tenant, business_date=day)
    except IntegrityError:
        return OrderCounter.objects.get(tenant=tenant, business_date=day)
