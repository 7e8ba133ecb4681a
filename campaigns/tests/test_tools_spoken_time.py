"""Callback times as people say them, read in the contact's time zone (offline: no
date-parsing library is installed)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from campaigns.spoken_time import UnknownTime, parse_spoken_time

ZONE = ZoneInfo("America/Chicago")
NOW = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=ZONE)  # a Tuesday, 3 pm


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("tomorrow at 3", at(2, 15)),
        ("tomorrow at 3 p.m.", at(2, 15)),
        ("tomorrow at 10am", at(2, 10)),
        ("at 5 pm", at(1, 17)),
        ("at 9", at(2, 9)),  # 9 this morning has passed: tomorrow's
        ("in two hours", at(1, 17)),
        ("in 30 minutes", at(1, 15, 30)),
        ("in half an hour", at(1, 15, 30)),
        ("Monday morning", at(7, 9)),
        ("tomorrow afternoon at two", at(2, 14)),
        ("half past four", at(1, 16, 30)),
        ("quarter to five tomorrow", at(2, 16, 45)),
        ("three o'clock", at(2, 15)),  # 3 pm is now: tomorrow's
        ("this evening", at(1, 18)),
        ("Tuesday at 4pm", at(1, 16)),  # later today
        ("Tuesday at 10", at(8, 10)),  # passed today: next week's
        ("next Tuesday at 10", at(8, 10)),
        ("at noon", at(2, 12)),
        ("at 15:30", at(1, 15, 30)),
        ("2026-12-03T10:00", at(3, 10)),
    ],
)
def test_phrasings(said, expected):
    assert parse_spoken_time(said, NOW, ZONE).at == expected


def test_a_day_without_an_hour_says_so():
    found = parse_spoken_time("tomorrow", NOW, ZONE)
    assert found.at == at(2, 0) and found.hour_given is False


def test_an_iso_time_with_an_offset_is_kept_as_that_moment():
    found = parse_spoken_time("2026-12-03T10:00:00-05:00", NOW, ZONE)
    assert found.at == at(3, 9)  # 10:00 in New York is 9:00 in Chicago


@pytest.mark.parametrize("said", ["later", "whenever", "at a good time", "next week", ""])
def test_what_names_no_time_is_refused(said):
    with pytest.raises(UnknownTime):
        parse_spoken_time(said, NOW, ZONE)


def test_an_impossible_clock_is_refused():
    with pytest.raises(UnknownTime, match="not a time of day"):
        parse_spoken_time("at 13 pm", NOW, ZONE)
