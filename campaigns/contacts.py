"""A contact's parts as people write them, made exact: the phone as E.164, the time zone (given,
or derived from the number where it has exactly one), and variable names the agent's texts can
use (calls.variables: plain identifiers)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as number_time_zones

from campaigns.models import Contact

# The variables every call already has (calls.variables.for_call) or a campaign adds: a contact's
# column of the same name would silently replace them in the agent's texts.
RESERVED_VARIABLES = frozenset({"caller_number", "business_name", "agent_name", "disclosure"})


class ContactError(ValueError):
    """A value that cannot be part of a contact; the message says why, for a person to fix."""


def default_region() -> str:
    """Where a number written without its country code is assumed to be (ISO 3166 code)."""
    return (getattr(settings, "PHONE_DEFAULT_REGION", "") or "US").upper()


_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def normalize_phone(value: str, region: str | None = None) -> str:
    """`value` as an E.164 number ("(415) 555-0101" -> "+14155550101"); ContactError if it is
    not a valid phone number."""
    text = (value or "").strip()
    if not text:
        raise ContactError("no phone number")
    try:
        number = phonenumbers.parse(text, region or default_region())
    except phonenumbers.NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, "not a phone number")
        raise ContactError(f"{text!r} is not a phone number ({why})") from None
    if not phonenumbers.is_valid_number(number):
        raise ContactError(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(value: str) -> str:
    """`value` if it is a known IANA time zone name; ContactError otherwise."""
    name = (value or "").strip()
    if name not in _known_time_zones():
        raise ContactError(f"{name!r} is not a known time zone (e.g. America/New_York)")
    return name


def time_zone_for_number(phone: str) -> str:
    """The time zone of an E.164 number when the number has exactly one (a London landline),
    else "" (a US toll-free or mobile number spans several: the tenant's applies)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ""
    zones = number_time_zones.time_zones_for_number(number)
    if len(zones) == 1 and zones[0] in _known_time_zones():
        return zones[0]
    return ""


def time_zone_of(contact: Contact) -> str:
    """Where `contact` lives: its own time zone, else its number's, else its tenant's."""
    return contact.time_zone or time_zone_for_number(contact.phone) or contact.tenant.time_zone


def check_variable_name(name: str) -> str:
    """`name` if the agent's texts can use it as `{name}`; ContactError saying why not."""
    if not name.isidentifier():
        raise ContactError(
            f"{name!r} cannot be a variable name: use letters, digits and _ only, not starting "
            "with a digit (e.g. first_name)"
        )
    if name in RESERVED_VARIABLES:
        raise ContactError(f"{name!r} is set by every call; name the column differently")
    return name


def check_variables(values: Any) -> dict[str, Any]:
    """A contact's variables: an object of valid names to text or numbers."""
    if not isinstance(values, dict):
        raise ContactError("variables must be an object of names to values")
    checked = {}
    for name, value in values.items():
        check_variable_name(str(name))
        if not isinstance(value, str | int | float | bool):
            raise ContactError(f"the variable {name!r} must be text or a number")
        checked[str(name)] = value
    return checked
