"""A time as people say it on the phone ("tomorrow at 3", "Monday morning", "in two hours"),
as an aware datetime in their own time zone.

No date-parsing library is installed (dateparser is not; dateutil does not read "tomorrow"),
so this reads a practical set of phrasings, the ones a recogniser writes down (Whisper writes
"3 p.m.", "3pm", "three o'clock", "half past four"). ISO 8601 ("2026-12-01T15:00") is read too:
a language model filling the tool's argument may use it.

Understood: a day (today, tonight, tomorrow, the day after tomorrow, a weekday name, "next"
weekday, "this" weekday), a time ("at 3", "3:30", "3 pm", "noon", "half past four", "quarter
to five"), a part of the day (morning, afternoon, evening, tonight, lunchtime), and a delay
("in two hours", "in 30 minutes", "in half an hour", "in an hour"). Not understood: calendar
dates in words ("December 3rd"), "next week", "end of the month", relative days beyond
tomorrow other than by weekday name, and time zones named in the phrase.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "a couple of": 2,
    "a few": 3,
    "an": 1,
    "a": 1,
}
# Where a part of the day starts, when no hour is said ("Monday morning" is 9:00).
PARTS_OF_DAY = {
    "morning": datetime.time(9, 0),
    "lunchtime": datetime.time(12, 0),
    "lunch": datetime.time(12, 0),
    "noon": datetime.time(12, 0),
    "midday": datetime.time(12, 0),
    "afternoon": datetime.time(14, 0),
    "evening": datetime.time(18, 0),
    "tonight": datetime.time(19, 0),
}

_NUMBER = r"(?:\d{1,2}|" + "|".join(sorted(map(re.escape, NUMBERS), key=len, reverse=True)) + ")"
_HOUR = (
    r"(?:\d{1,2}|"
    + "|".join(w for w, n in NUMBERS.items() if w.isalpha() and n <= 12 and len(w) > 2)
    + ")"
)
_DELAY = re.compile(
    rf"\bin\s+(?P<count>{_NUMBER}|half an?)\s+(?P<unit>minutes?|mins?|hours?|hrs?|days?)\b"
)
_HALF_HOUR = re.compile(r"\bin\s+(?:half\s+an\s+hour|an\s+hour\s+and\s+a\s+half)\b")
_CLOCK = re.compile(
    rf"\b(?:at\s+|around\s+|about\s+|by\s+)?(?P<hour>{_HOUR})"
    r"(?:[:.](?P<minute>\d{2}))?\s*(?P<suffix>a\.?\s?m\.?|p\.?\s?m\.?|o'?clock)?(?![\w:])"
)
_PAST_TO = re.compile(
    rf"\b(?P<amount>half|quarter|{_NUMBER})\s+(?P<way>past|after|to|till)\s+(?P<hour>{_HOUR})\b"
)


class UnknownTime(ValueError):
    """The phrase names no time this module understands (the message says what it read)."""


@dataclass(frozen=True)
class SpokenTime:
    """What was understood: the moment, and whether an hour was said (a bare "tomorrow" is
    the start of that day's calling window, not midnight)."""

    at: datetime.datetime
    hour_given: bool


def _number(word: str) -> int:
    word = word.strip()
    return int(word) if word.isdigit() else NUMBERS[word]


def _hour_24(hour: int, suffix: str, part: str | None) -> int:
    suffix = suffix.replace(".", "").replace(" ", "")
    if suffix == "pm" and hour < 12:
        return hour + 12
    if suffix == "am":
        return 0 if hour == 12 else hour
    if part in ("afternoon", "evening", "tonight") and hour < 12:
        return hour + 12
    if part == "morning":
        return hour
    # No am/pm: people asking for a call mean business hours ("at 3" is 15:00, "at 9" 9:00).
    return hour + 12 if 1 <= hour <= 7 else hour


def _day(text: str, today: datetime.date) -> tuple[datetime.date | None, int]:
    """The day named, and how many days later the moment is meant if it has passed today
    ("Tuesday at 10", said on a Tuesday afternoon, is next week's)."""
    if "day after tomorrow" in text:
        return today + datetime.timedelta(days=2), 0
    if re.search(r"\btomorrow\b|\btmrw\b", text):
        return today + datetime.timedelta(days=1), 0
    if re.search(r"\b(today|tonight|this (morning|afternoon|evening))\b", text):
        return today, 0
    found = re.search(r"\b(?P<next>next\s+)?(?P<day>" + "|".join(WEEKDAYS) + r")s?\b", text)
    if found:
        ahead = (WEEKDAYS.index(found["day"]) - today.weekday()) % 7
        if ahead == 0 and found["next"]:
            ahead = 7
        return today + datetime.timedelta(days=ahead), 7 if ahead == 0 else 0
    return None, 1


def _clock(text: str, part: str | None) -> datetime.time | None:
    found = _PAST_TO.search(text)
    if found:
        amount = {"half": 30, "quarter": 15}.get(found["amount"]) or _number(found["amount"])
        hour = _hour_24(_number(found["hour"]), "", part)
        minutes = hour * 60 + (amount if found["way"] in ("past", "after") else -amount)
        return datetime.time(minutes // 60 % 24, minutes % 60)
    for found in _CLOCK.finditer(text):
        said = found.group(0)
        # A bare number needs "at"/"around" or a suffix to be a time ("call me in 2 days").
        if not (found["suffix"] or found["minute"] or re.match(r"(at|around|about|by)\s", said)):
            continue
        hour = _number(found["hour"])
        minute = int(found["minute"] or 0)
        if not (1 <= hour <= 12 or (hour <= 23 and not found["suffix"])) or minute > 59:
            raise UnknownTime(f"{said.strip()!r} is not a time of day")
        if hour > 12:  # "at 15:30": a 24-hour clock
            return datetime.time(hour, minute)
        return datetime.time(_hour_24(hour, found["suffix"] or "", part), minute)
    return None


def _part(text: str) -> str | None:
    for name in PARTS_OF_DAY:
        if re.search(rf"\b{name}\b", text):
            return name
    return None


def parse_spoken_time(phrase: str, now: datetime.datetime, zone: ZoneInfo) -> SpokenTime:
    """`phrase` as a moment in `zone`, read relative to `now`. A time without a day that has
    already passed today is tomorrow's ("at 9", said at 3 pm). UnknownTime when it says none."""
    text = " ".join(phrase.lower().replace(",", " ").split())
    local_now = now.astimezone(zone)
    try:
        iso = datetime.datetime.fromisoformat(phrase.strip())
    except ValueError:
        pass
    else:
        at = iso if iso.tzinfo else iso.replace(tzinfo=zone)
        return SpokenTime(at.astimezone(zone), True)
    if _HALF_HOUR.search(text):
        minutes = 30 if "half an hour" in text and "and a half" not in text else 90
        return SpokenTime(local_now + datetime.timedelta(minutes=minutes), True)
    delay = _DELAY.search(text)
    if delay:
        count = 0.5 if delay["count"].startswith("half") else _number(delay["count"])
        unit = delay["unit"]
        if unit.startswith("day"):
            day = local_now.date() + datetime.timedelta(days=int(count))
            at = datetime.datetime.combine(day, datetime.time(0), zone)
            return SpokenTime(at, False)
        minutes = count * 60 if unit.startswith("h") else count
        return SpokenTime(local_now + datetime.timedelta(minutes=minutes), True)
    part = _part(text)
    clock = _clock(text, part)
    day, roll = _day(text, local_now.date())
    if clock is None and part is not None:
        clock = PARTS_OF_DAY[part]
    if day is None and clock is None:
        raise UnknownTime(f"no day or time in {phrase!r}")
    day = day or local_now.date()
    if roll and clock is not None and datetime.datetime.combine(day, clock, zone) <= local_now:
        day += datetime.timedelta(days=roll)
    if clock is None:
        return SpokenTime(datetime.datetime.combine(day, datetime.time(0), zone), False)
    return SpokenTime(datetime.datetime.combine(day, clock, zone), True)
