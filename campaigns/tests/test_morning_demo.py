"""The outbound demo that seed_demo writes: idempotent, and both campaigns ready to start."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command

from calls.models import Agent
from campaigns import demo, morning
from campaigns.actions import check_ready, start_campaign
from campaigns.models import Attempt, Campaign, ContactList


@pytest.mark.django_db
def test_seed_demo_writes_the_outbound_demo_once_and_it_starts():
    out = StringIO()
    call_command("seed_demo", password="pw", stdout=out)
    call_command("seed_demo", password="pw", stdout=out)
    assert "10 contacts in 'Demo contacts'" in out.getvalue()
    agent = Agent.objects.get(name=demo.REMINDER_AGENT)
    assert "{first_name}" in agent.greeting and "{disclosure}" in agent.greeting
    assert agent.llm_provider == "scripted" and set(agent.tools) == set(demo.TOOLS)
    assert ContactList.objects.get(name=demo.LIST_NAME).contacts.count() == 10
    reminders = Campaign.objects.get(name=demo.REMINDER_CAMPAIGN)
    mornings = Campaign.objects.get(name=demo.MORNING_CAMPAIGN)
    assert Campaign.objects.count() == 2 and {reminders.status, mornings.status} == {"draft"}
    check_ready(mornings)
    assert morning.clamp_warning(mornings) == ""
    start_campaign(reminders.pk, by="test")
    assert Attempt.objects.filter(campaign=reminders).count() == 10
    call_command("seed_demo", password="pw", stdout=out)  # a started campaign is left alone
    reminders.refresh_from_db()
    assert reminders.status == "running"
    start_campaign(mornings.pk, by="test")
    # A Tuesday before 8:00 in every contact's zone (New York to Honolulu): its morning and
    # Wednesday's, for ten people.
    tuesday = datetime.datetime(2027, 3, 9, 11, tzinfo=datetime.UTC)
    assert morning.plan_mornings(tuesday).planned == 20
