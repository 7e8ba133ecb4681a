"""Callbacks the callee asked for ("call me tomorrow at 3"): a new Attempt at that time in their
own time zone, moved into the campaign's calling window (never outside 8:00-21:00 there)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from campaigns.contacts import time_zone_of
from campaigns.models import (
    EARLIEST_CALL,
    LATEST_CALL,
    Attempt,
    AttemptStatus,
    CallingWindow,
    Campaign,
    Contact,
)

# The soonest a callback is placed: a "call me back now" is not a redial mid-goodbye.
MIN_LEAD = datetime.timedelta(minutes=5)
SEARCH_DAYS = 14  # a campaign whose windows open less than fortnightly is misconfigured


class CallbackRefused(ValueError):
    """No callback can be scheduled (the campaign ends first, or has no window open)."""


def contact_zone(contact: Contact) -> ZoneInfo:
    """The contact's time zone: as given, else the number's (when it has exactly one), else
    the tenant's (campaigns.contacts.time_zone_of)."""
    return ZoneInfo(time_zone_of(contact))


def _day_windows(
    windows: list[CallingWindow], day: datetime.date
) -> list[tuple[datetime.time, ...]]:
    """That weekday's windows, clipped to the legal floor. A campaign without windows calls
    inside the floor on every day."""
    spans = [(w.starts, w.ends) for w in windows if w.weekday == day.weekday()]
    if not windows:
        spans = [(EARLIEST_CALL, LATEST_CALL)]
    clipped = [(max(s, EARLIEST_CALL), min(e, LATEST_CALL)) for s, e in spans]
    return sorted((s, e) for s, e in clipped if s < e)


def in_window(campaign: Campaign, zone: ZoneInfo, wanted: datetime.datetime) -> datetime.datetime:
    """`wanted` if a window is open then, else the next moment one opens. CallbackRefused
    when none opens within SEARCH_DAYS or before the campaign ends."""
    local = wanted.astimezone(zone)
    windows = list(campaign.windows.all())
    for offset in range(SEARCH_DAYS + 1):
        day = local.date() + datetime.timedelta(days=offset)
        for starts, ends in _day_windows(windows, day):
            opens = datetime.datetime.combine(day, starts, zone)
            closes = datetime.datetime.combine(day, ends, zone)
            if closes <= local:
                continue
            found = max(opens, local)
            if campaign.ends_at and found >= campaign.ends_at:
                raise CallbackRefused("the campaign ends before then")
            return found
    raise CallbackRefused(f"no calling window opens in the next {SEARCH_DAYS} days")


def schedule_callback(
    attempt_id: int, wanted: datetime.datetime, *, now: datetime.datetime | None = None
) -> Attempt:
    """Schedule the callee's callback: a new Attempt (status scheduled, numbered after the
    contact's highest) due at `wanted` moved into the campaign's window, and the current
    attempt's outcome "callback". Asked again on the same attempt, the same callback moves
    to the new time rather than a second one being made. Returns the callback attempt."""
    now = now or timezone.now()
    with transaction.atomic():
        attempt = (
            Attempt.objects.select_for_update()
            .select_related("campaign", "contact__tenant")
            .get(pk=attempt_id)
        )
        zone = contact_zone(attempt.contact)
        due_at = in_window(attempt.campaign, zone, max(wanted, now + MIN_LEAD))
        siblings = Attempt.objects.filter(
            campaign=attempt.campaign, contact=attempt.contact, day=attempt.day
        )
        callback = None
        if attempt.callback_at is not None:
            callback = (
                siblings.filter(status=AttemptStatus.SCHEDULED, number__gt=attempt.number)
                .order_by("number")
                .first()
            )
        if callback is None:
            highest = siblings.aggregate(n=Max("number"))["n"] or attempt.number
            callback = Attempt.objects.create(
                campaign=attempt.campaign,
                contact=attempt.contact,
                day=attempt.day,
                number=highest + 1,
                status=AttemptStatus.SCHEDULED,
                due_at=due_at,
            )
        else:
            callback.due_at = due_at
            callback.save(update_fields=["due_at", "updated_at"])
        attempt.outcome = "callback"
        attempt.callback_at = due_at
        attempt.save(update_fields=["outcome", "callback_at", "updated_at"])
    return callback
