"""Campaigns in the admin: the start/pause/resume/cancel actions and buttons, the progress
panel and its JSON feed, and a tenant's staff seeing only their campaigns."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Attempt, AttemptStatus, Campaign, CampaignStatus
from campaigns.tests.dialer_world import make_campaign

LIST = "admin:campaigns_campaign_changelist"


def act(client, action: str, *campaigns):
    return client.post(
        reverse(LIST),
        {"action": action, "_selected_action": [c.pk for c in campaigns]},
        follow=True,
    )


def status_of(campaign) -> str:
    return Campaign.objects.get(pk=campaign.pk).status


@pytest.mark.django_db
def test_list_actions_move_campaigns_through_their_statuses(client, world_a):
    client.force_login(world_a.staff)
    campaign = make_campaign(world_a, contacts=2)
    act(client, "start_campaigns", campaign)
    assert status_of(campaign) == CampaignStatus.RUNNING and campaign.attempts.count() == 2
    act(client, "pause_campaigns", campaign)
    assert status_of(campaign) == CampaignStatus.PAUSED
    act(client, "resume_campaigns", campaign)
    assert status_of(campaign) == CampaignStatus.RUNNING
    response = act(client, "start_campaigns", campaign)  # refused: a message, not an error
    assert response.status_code == 200 and b"only a draft starts" in response.content
    act(client, "cancel_campaigns", campaign)
    assert status_of(campaign) == CampaignStatus.CANCELLED
    assert set(campaign.attempts.values_list("status", flat=True)) == {AttemptStatus.CANCELLED}


@pytest.mark.django_db
def test_starting_refuses_a_greeting_without_the_disclosure(client, world_a):
    client.force_login(world_a.staff)
    campaign = make_campaign(world_a, contacts=1)
    world_a.agent.greeting = "Hi {first_name}!"
    world_a.agent.save()
    response = act(client, "start_campaigns", campaign)
    assert b"must use {disclosure}" in response.content
    assert status_of(campaign) == CampaignStatus.DRAFT and not campaign.attempts.exists()
    campaign.disclose_automation = False
    campaign.save()
    act(client, "start_campaigns", campaign)
    assert status_of(campaign) == CampaignStatus.RUNNING


@pytest.mark.django_db
def test_the_campaign_page_shows_progress_buttons_and_a_feed(client, world_a):
    client.force_login(world_a.staff)
    campaign = make_campaign(world_a, contacts=3)
    act(client, "start_campaigns", campaign)
    first = campaign.attempts.order_by("pk").first()
    Attempt.objects.filter(pk=first.pk).update(status=AttemptStatus.DONE, result="busy")
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    body = page.content.decode()
    assert page.status_code == 200 and "campaigns/progress.js" in body
    assert 'data-count="busy">1<' in body and 'data-count="remaining">2<' in body
    assert 'value="pause"' in body and 'value="start"' not in body
    feed = client.get(reverse("admin:campaigns_campaign_progress", args=[campaign.pk])).json()
    assert feed["status"] == "running" and feed["counts"]["busy"] == 1
    assert feed["counts"]["remaining"] == 2 and len(feed["next_attempts"]) == 2
    move = reverse("admin:campaigns_campaign_move", args=[campaign.pk])
    client.post(move, {"move": "pause"})
    assert status_of(campaign) == CampaignStatus.PAUSED


@pytest.mark.django_db
def test_another_tenants_staff_see_and_move_nothing(client, world_a, world_b):
    campaign = make_campaign(world_a, contacts=1)
    client.force_login(world_b.staff)
    assert campaign.name not in client.get(reverse(LIST)).content.decode()
    for name in ("campaigns_campaign_progress", "campaigns_campaign_change"):
        assert client.get(reverse(f"admin:{name}", args=[campaign.pk])).status_code in (302, 404)
    response = client.post(
        reverse("admin:campaigns_campaign_move", args=[campaign.pk]), {"move": "start"}
    )
    assert response.status_code == 404
    act(client, "start_campaigns", campaign)
    assert status_of(campaign) == CampaignStatus.DRAFT
    assert client.get(reverse("admin:campaigns_attempt_changelist")).status_code == 200
