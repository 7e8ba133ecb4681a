"""When a campaign may call a contact: its windows per weekday in the contact's local time,
inside the 8:00-21:00 floor (campaigns.models.EARLIEST_CALL / LATEST_CALL) that no window can
widen, and inside the campaign's start and end.

Local times are turned into instants with zoneinfo, so a window keeps its local hours across
daylight-saving changes (09:00 in New York is 14:00 UTC in winter and 13:00 in summer).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from campaigns.models import EARLIEST_CALL, LATEST_CALL, CallingWindow, Campaign, Contact

UTC = datetime.UTC
# How far ahead to look for an opening: a week covers every weekday; two leave room for a
# campaign whose only window is today and already past.
HORIZON_DAYS = 15


@dataclass(frozen=True)
class Span:
    """Local hours of one weekday, already clipped to the floor."""

    weekday: int
    starts: datetime.time
    ends: datetime.time


def spans(windows: Iterable[CallingWindow]) -> list[Span]:
    """The campaign's windows clipped to 8:00-21:00; a campaign without windows may call
    every day inside the floor."""
    rows = list(windows)
    if not rows:
        return [Span(day, EARLIEST_CALL, LATEST_CALL) for day in range(7)]
    clipped = []
    for w in rows:
        starts, ends = max(w.starts, EARLIEST_CALL), min(w.ends, LATEST_CALL)
        if starts < ends:
            clipped.append(Span(w.weekday, starts, ends))
    return clipped


def zone_of(contact: Contact, tenant_zone: str) -> zoneinfo.ZoneInfo:
    """The contact's own time zone, else the tenant's."""
    return zoneinfo.ZoneInfo(contact.time_zone or tenant_zone or "UTC")


def _instant(day: datetime.date, at: datetime.time, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    # Round-tripping through UTC settles a local time that does not exist (inside a spring
    # gap) on the real instant just after it; an ambiguous one (autumn) takes the first.
    return datetime.datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_opening(
    after: datetime.datetime,
    *,
    zone: zoneinfo.ZoneInfo,
    windows: list[Span],
    starts_at: datetime.datetime | None = None,
    ends_at: datetime.datetime | None = None,
) -> datetime.datetime | None:
    """The first instant at or after `after` when a call may be placed (`after` itself when it
    is inside a window), or None when there is none before the campaign ends."""
    if starts_at is not None and starts_at > after:
        after = starts_at
    local_day = after.astimezone(zone).date()
    for offset in range(-1, HORIZON_DAYS):
        day = local_day + datetime.timedelta(days=offset)
        for span in sorted(
            (s for s in windows if s.weekday == day.weekday()), key=lambda s: s.starts
        ):
            opens, closes = _instant(day, span.starts, zone), _instant(day, span.ends, zone)
            candidate = max(after, opens)
            if candidate >= closes:
                continue
            if ends_at is not None and candidate >= ends_at:
                return None
            return candidate
    return None


def next_allowed(
    campaign: Campaign,
    contact: Contact,
    after: datetime.datetime,
    *,
    windows: list[Span] | None = None,
) -> datetime.datetime | None:
    """When `campaign` may next call `contact`, at or after `after` (None: never again)."""
    return next_opening(
        after,
        zone=zone_of(contact, campaign.tenant.time_zone),
        windows=spans(campaign.windows.all()) if windows is None else windows,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
    )
