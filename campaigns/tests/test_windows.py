"""Calling windows: per weekday in the contact's local time, across time zones and
daylight-saving changes, inside the 8:00-21:00 floor and the campaign's start and end."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from campaigns.models import CallingWindow, Contact
from campaigns.tests.dialer_world import make_campaign
from campaigns.windows import Span, next_allowed, next_opening, spans

UTC = datetime.UTC
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
LONDON = zoneinfo.ZoneInfo("Europe/London")
EVERY_DAY_9_TO_18 = [Span(d, datetime.time(9), datetime.time(18)) for d in range(7)]


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def test_inside_a_window_the_moment_itself_is_allowed():
    at = utc(2026, 1, 12, 15, 30)  # Monday 10:30 in New York
    assert next_opening(at, zone=NEW_YORK, windows=EVERY_DAY_9_TO_18) == at


def test_before_the_window_the_call_waits_for_its_local_opening_winter_and_summer():
    winter = next_opening(utc(2026, 1, 12, 12, 0), zone=NEW_YORK, windows=EVERY_DAY_9_TO_18)
    summer = next_opening(utc(2026, 7, 13, 12, 0), zone=NEW_YORK, windows=EVERY_DAY_9_TO_18)
    assert winter == utc(2026, 1, 12, 14, 0)  # 9:00 EST
    assert summer == utc(2026, 7, 13, 13, 0)  # 9:00 EDT


@pytest.mark.parametrize(
    "after, expected",
    [
        # Saturday evening before the spring change (2026-03-08): Sunday 9:00 is already EDT.
        (utc(2026, 3, 8, 1, 0), utc(2026, 3, 8, 13, 0)),
        # Saturday evening before the autumn change (2026-11-01): Sunday 9:00 is EST again.
        (utc(2026, 11, 1, 1, 0), utc(2026, 11, 1, 14, 0)),
    ],
)
def test_windows_keep_their_local_hours_across_daylight_saving_changes(after, expected):
    assert next_opening(after, zone=NEW_YORK, windows=EVERY_DAY_9_TO_18) == expected


def test_after_the_window_closes_the_next_open_weekday_is_used():
    weekdays_only = [Span(d, datetime.time(9), datetime.time(18)) for d in range(5)]
    friday_evening = utc(2026, 1, 16, 23, 30)  # Friday 18:30 in New York
    assert next_opening(friday_evening, zone=NEW_YORK, windows=weekdays_only) == utc(
        2026, 1, 19, 14, 0
    )  # Monday 9:00 EST


def test_the_same_instant_is_inside_for_one_zone_and_outside_for_another():
    at = utc(2026, 1, 12, 10, 0)  # 10:00 in London, 5:00 in New York
    assert next_opening(at, zone=LONDON, windows=EVERY_DAY_9_TO_18) == at
    assert next_opening(at, zone=NEW_YORK, windows=EVERY_DAY_9_TO_18) == utc(2026, 1, 12, 14, 0)


class W:  # a stand-in CallingWindow for spans()
    def __init__(self, weekday, starts, ends):
        self.weekday, self.starts, self.ends = weekday, starts, ends


def test_no_window_can_widen_the_8_to_21_floor():
    wide = spans([W(d, datetime.time(6), datetime.time(23)) for d in range(7)])
    assert {(s.starts, s.ends) for s in wide} == {(datetime.time(8), datetime.time(21))}
    early = utc(2026, 1, 12, 11, 30)  # 6:30 in New York
    assert next_opening(early, zone=NEW_YORK, windows=wide) == utc(2026, 1, 12, 13, 0)  # 8:00
    late = utc(2026, 1, 13, 2, 30)  # Monday 21:30 in New York
    assert next_opening(late, zone=NEW_YORK, windows=wide) == utc(2026, 1, 13, 13, 0)
    # A window entirely outside the floor is no window at all.
    assert spans([W(0, datetime.time(21, 30), datetime.time(23))]) == []


def test_without_windows_every_day_inside_the_floor():
    assert {(s.weekday, s.starts, s.ends) for s in spans([])} == {
        (d, datetime.time(8), datetime.time(21)) for d in range(7)
    }


def test_the_campaign_start_and_end_bound_the_openings():
    at = utc(2026, 1, 12, 15, 0)
    later_start = utc(2026, 1, 14, 20, 0)
    assert (
        next_opening(at, zone=NEW_YORK, windows=EVERY_DAY_9_TO_18, starts_at=later_start)
        == later_start
    )
    ends_tonight = utc(2026, 1, 12, 23, 30)  # after 18:00 New York: no window left before it
    evening = utc(2026, 1, 12, 23, 10)
    assert (
        next_opening(evening, zone=NEW_YORK, windows=EVERY_DAY_9_TO_18, ends_at=ends_tonight)
        is None
    )


@pytest.mark.django_db
def test_a_contact_uses_its_own_zone_else_the_tenants(world_a):
    campaign = make_campaign(world_a, contacts=0)
    campaign.starts_at = utc(2026, 1, 1)
    campaign.save()
    CallingWindow.objects.create(
        campaign=campaign, weekday=0, starts=datetime.time(9), ends=datetime.time(12)
    )
    tokyo = Contact.objects.create(
        tenant=world_a.tenant, phone="+81312345678", time_zone="Asia/Tokyo"
    )
    local = Contact.objects.create(tenant=world_a.tenant, phone="+12025550100")  # tenant: London
    monday_early = utc(2026, 1, 12, 0, 30)  # Monday 9:30 in Tokyo, Monday 0:30 in London
    assert next_allowed(campaign, tokyo, monday_early) == monday_early
    assert next_allowed(campaign, local, monday_early) == utc(2026, 1, 12, 9, 0)
