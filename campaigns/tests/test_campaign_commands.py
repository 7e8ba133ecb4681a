"""A whole campaign from the terminal: create, start, run the dialer, status, pause."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import Attempt, AttemptStatus, Campaign, CampaignStatus, ContactList
from campaigns.tests.dialer_world import make_campaign


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_campaign_with_defaults_and_windows(world_a):
    make_campaign(world_a, contacts=2, name="Seed")  # the list and a disclosing greeting
    run(
        "create_campaign",
        "Winter",
        "--tenant=a",
        f"--agent={world_a.agent.name}",
        "--list=Seed list",
        f"--caller-id={world_a.number.number}",
        "--window=sat 10:00-14:00",
        "--window=mon-wed 09:30-17:00",
        "--max-concurrent=4",
    )
    campaign = Campaign.objects.get(name="Winter")
    assert campaign.status == CampaignStatus.DRAFT and campaign.max_concurrent_calls == 4
    assert campaign.max_attempts == 3 and campaign.ring_seconds == 25
    rows = list(campaign.windows.values_list("weekday", "starts", "ends"))
    assert rows == [
        (0, datetime.time(9, 30), datetime.time(17)),
        (1, datetime.time(9, 30), datetime.time(17)),
        (2, datetime.time(9, 30), datetime.time(17)),
        (5, datetime.time(10), datetime.time(14)),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--window=mon-fri 18:00-09:00"], "ends before it starts"),
        (["--window=funday 09:00-10:00"], "Bad window"),
        (["--ring-seconds=5"], "15"),
        (["--machine=leave_message"], "needs its text"),
        (["--caller-id=+14155550999"], "no number"),
    ],
)
def test_create_campaign_refuses_bad_options_and_writes_nothing(world_a, extra, message):
    ContactList.objects.create(tenant=world_a.tenant, name="L")
    args = [
        "create_campaign",
        "Bad",
        "--tenant=a",
        f"--agent={world_a.agent.name}",
        "--list=L",
        f"--caller-id={world_a.number.number}",
    ]
    with pytest.raises(CommandError, match=message):
        run(*args, *extra)
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_start_run_dialer_once_status_and_pause(world_a, monkeypatch):
    monkeypatch.setattr("campaigns.dialer.enqueue_each", lambda *a, **kw: None)
    make_campaign(world_a, contacts=3, name="Spring", max_concurrent_calls=2)
    assert "3 attempts scheduled" in run("start_campaign", "Spring", "--tenant=a")
    assert "claimed 2" in run("run_dialer", "--once")
    table = run("campaign_status", "--tenant=a").splitlines()
    assert table[0].split()[:4] == ["campaign", "status", "contacts", "dialed"]
    spring = table[1].split()
    # contacts, dialed, answered, human, machine, no answer, busy, failed, DNC, in flight, left
    assert spring[:13] == ["Spring", "running", "3", *["0"] * 8, "2", "1"]
    run("pause_campaign", "Spring", "--tenant=a", "--reason=Lunch")
    campaign = Campaign.objects.get(name="Spring")
    assert campaign.status == CampaignStatus.PAUSED and campaign.status_reason == "Lunch"
    assert "Spring: Lunch" in run("campaign_status", "Spring", "--tenant=a")
    with pytest.raises(CommandError, match="cannot become paused"):
        run("pause_campaign", "Spring", "--tenant=a")
    assert "running" in run("start_campaign", "Spring", "--tenant=a")  # resumes
    assert Attempt.objects.filter(status=AttemptStatus.CLAIMED).count() == 2


@pytest.mark.django_db
def test_commands_see_only_the_named_tenants_campaigns(world_a, world_b):
    make_campaign(world_a, contacts=1, name="Spring")
    with pytest.raises(CommandError, match="No campaign 'Spring' for b"):
        run("start_campaign", "Spring", "--tenant=b")
    assert "Spring" not in run("campaign_status", "--tenant=b")
    with pytest.raises(CommandError, match="No tenant"):
        run("campaign_status", "--tenant=nobody")
