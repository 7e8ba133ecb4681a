"""A contact's parts made exact: E.164 numbers, time zones given or derived from the number,
variable names the agent's texts can use."""

from __future__ import annotations

import pytest

from campaigns.contacts import (
    ContactError,
    check_time_zone,
    check_variable_name,
    check_variables,
    normalize_phone,
    time_zone_for_number,
    time_zone_of,
)
from campaigns.models import Contact


@pytest.mark.parametrize(
    "written, e164",
    [
        ("+1 415 555 0101", "+14155550101"),
        ("(212) 555-0102", "+12125550102"),  # no country code: the default region (US)
        ("  212.555.0102 ", "+12125550102"),
        ("+44 20 7946 0018", "+442079460018"),
    ],
)
def test_numbers_are_stored_as_e164(written, e164):
    assert normalize_phone(written) == e164


def test_the_default_region_comes_from_the_settings(settings):
    settings.PHONE_DEFAULT_REGION = "gb"
    assert normalize_phone("020 7946 0018") == "+442079460018"
    assert normalize_phone("+1 415 555 0101") == "+14155550101"  # a country code wins


@pytest.mark.parametrize(
    "written, why",
    [
        ("", "no phone number"),
        ("call me", "not a phone number"),
        ("+1 555-0103", "not a valid phone number"),
        ("+999 1234 5678", "unknown country code"),
    ],
)
def test_bad_numbers_say_why(written, why):
    with pytest.raises(ContactError, match=why):
        normalize_phone(written)


@pytest.mark.parametrize(
    "phone, zone",
    [
        ("+14155550101", "America/Los_Angeles"),
        ("+12125550102", "America/New_York"),
        ("+442079460018", "Europe/London"),
        ("+18005550199", ""),  # toll-free: the whole of North America, no one zone
    ],
)
def test_the_time_zone_is_derived_only_when_the_number_has_one(phone, zone):
    assert time_zone_for_number(phone) == zone


@pytest.mark.django_db
def test_a_contact_lives_in_its_zone_else_its_numbers_else_its_tenants(world_a):
    given = Contact(tenant=world_a.tenant, phone="+14155550101", time_zone="America/Denver")
    derived = Contact(tenant=world_a.tenant, phone="+14155550101")
    toll_free = Contact(tenant=world_a.tenant, phone="+18005550199")
    assert time_zone_of(given) == "America/Denver"
    assert time_zone_of(derived) == "America/Los_Angeles"
    assert time_zone_of(toll_free) == "Europe/London"  # the tenant's


def test_time_zones_are_checked():
    assert check_time_zone(" Europe/Paris ") == "Europe/Paris"
    with pytest.raises(ContactError, match="'Mars/Olympus' is not a known time zone"):
        check_time_zone("Mars/Olympus")


@pytest.mark.parametrize("name", ["first_name", "appointment", "_x", "Day2"])
def test_variable_names_the_agent_texts_can_use(name):
    assert check_variable_name(name) == name


@pytest.mark.parametrize(
    "name, why",
    [
        ("first name", "letters, digits and _"),
        ("2nd_line", "letters, digits and _"),
        ("x.y", "letters, digits and _"),
        ("business_name", "set by every call"),
    ],
)
def test_bad_variable_names_say_why(name, why):
    with pytest.raises(ContactError, match=why):
        check_variable_name(name)


def test_variables_are_names_to_plain_values():
    assert check_variables({"first_name": "Ada", "age": 36}) == {"first_name": "Ada", "age": 36}
    with pytest.raises(ContactError, match="must be text or a number"):
        check_variables({"first_name": {"nested": 1}})
    with pytest.raises(ContactError, match="an object"):
        check_variables(["first_name"])
