"""The answering-machine policy: each AnsweredBy verdict under each policy, through Twilio's
AMD webhook; and the message left after the beep by the call's session."""

from __future__ import annotations

import asyncio

import django_rq
import pytest
from channels.db import database_sync_to_async

from calls import variables as call_variables
from calls.models import Turn
from calls.tests.conftest import until
from campaigns.actions import CampaignRefused, start_campaign
from campaigns.machine import HANG_UP, LEAVE_MESSAGE, NOTHING, action_for
from campaigns.models import Attempt
from campaigns.tests.dialer_world import dialled_attempt, make_campaign, twilio_says

VERDICTS = [
    "human",
    "unknown",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
]
EXPECTED = {
    # policy: actions for the verdicts above, in order
    "hang_up": [NOTHING, NOTHING, HANG_UP, HANG_UP, HANG_UP, HANG_UP, HANG_UP],
    "leave_message": [
        NOTHING,
        NOTHING,
        LEAVE_MESSAGE,
        LEAVE_MESSAGE,
        LEAVE_MESSAGE,
        LEAVE_MESSAGE,
        HANG_UP,
    ],
    "talk": [NOTHING] * 7,
}
VOICEMAIL = "Hi {first_name}, this is Shop A about your {appointment}. Please call us back."


def test_each_verdict_under_each_policy():
    for policy, actions in EXPECTED.items():
        assert [action_for(policy, v) for v in VERDICTS] == actions, policy


def leave_message_campaign(world):
    agent = world.agent
    agent.outbound_first_speaker = "machine_verdict"
    agent.voicemail_message = "{voicemail}"
    agent.save()
    campaign = make_campaign(
        world, contacts=1, machine_policy="leave_message", voicemail_template=VOICEMAIL
    )
    contact = campaign.contact_list.contacts.get()
    contact.variables = {"appointment": "eye test"}
    contact.save()
    return campaign


@pytest.mark.django_db
@pytest.mark.parametrize("verdict", VERDICTS)
@pytest.mark.parametrize("policy", ["hang_up", "talk"])
def test_the_amd_webhook_applies_the_campaigns_policy(
    client, world_a, carrier, monkeypatch, django_capture_on_commit_callbacks, verdict, policy
):
    sent = []
    monkeypatch.setattr(
        "campaigns.machine.send_control_sync", lambda *a, **kw: sent.append((a, kw))
    )
    campaign = make_campaign(world_a, contacts=1, machine_policy=policy)
    attempt = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
    assert carrier.dials[0].get("MachineDetection", [""]) == [
        "Enable" if policy == "hang_up" else ""
    ]
    with django_capture_on_commit_callbacks(execute=True):
        twilio_says(client, world_a, attempt.call, "/telephony/twilio/amd/", AnsweredBy=verdict)
        twilio_says(client, world_a, attempt.call, "/telephony/twilio/amd/", AnsweredBy=verdict)
    hang_up = EXPECTED[policy][VERDICTS.index(verdict)] == HANG_UP
    job = django_rq.get_queue("telephony").fetch_job(f"hangup-{attempt.call_id}")
    if hang_up:
        assert sent == [((attempt.call_id, "hang_up"), {"outcome": "answering_machine"})]
        assert job is not None
        job.delete()
    else:
        assert sent == [] and job is None
    assert Attempt.objects.get(pk=attempt.pk).answered_by == verdict


@pytest.mark.django_db
def test_leaving_a_message_asks_for_the_beep_and_gives_the_session_the_rendered_message(
    client, world_a, carrier, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "campaigns.machine.send_control_sync", lambda *a, **kw: sent.append((a, kw))
    )
    campaign = leave_message_campaign(world_a)
    attempt = dialled_attempt(world_a, campaign, django_capture_on_commit_callbacks)
    assert carrier.dials[0]["MachineDetection"] == ["DetectMessageEnd"]
    call = attempt.call
    said = call_variables.render(world_a.agent.voicemail_message, call_variables.for_call(call))
    assert said == "Hi Person0, this is Shop A about your eye test. Please call us back."
    with django_capture_on_commit_callbacks(execute=True):
        twilio_says(client, world_a, call, "/telephony/twilio/amd/", AnsweredBy="machine_end_beep")
    assert sent == []  # the session leaves it (the engine's own "amd" handling), then hangs up


@pytest.mark.django_db
def test_a_campaign_that_leaves_messages_needs_an_agent_that_waits_and_says_them(world_a):
    campaign = make_campaign(
        world_a, contacts=1, machine_policy="leave_message", voicemail_template=VOICEMAIL
    )
    with pytest.raises(CampaignRefused, match="wait for the machine verdict"):
        start_campaign(campaign.pk, by="test")
    assert not campaign.attempts.exists()


@pytest.mark.django_db(transaction=True)
async def test_the_message_is_said_after_the_beep_then_the_call_ends(build_session):
    message = "Hi Person0, this is Shop A about your eye test. Please call us back."
    session, transport = await build_session(
        greeting="Hi.", first_speaker="machine_verdict", voicemail=message
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert "media" not in transport.kinds()  # silent through the machine's greeting
    await session.control("amd", answered_by="machine_end_beep")
    await asyncio.wait_for(transport.hung_up.wait(), 10)
    await until(lambda: not session.agent_active)
    await until(lambda: session.recorder.pending == 0)  # the records are written off the loop
    rows = Turn.objects.filter(call_id=session.call_id).values_list("speaker", "text")
    assert await database_sync_to_async(list)(rows) == [("agent", message)]
