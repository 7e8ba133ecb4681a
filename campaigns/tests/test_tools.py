"""The agent's campaign tools: recording an outcome, scheduling a callback, transferring to a
person; each finds its attempt from the call, and says it cannot on any other call (another
tenant's included). The offline scripted brain reaches each from what Whisper writes down."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import django_rq
import pytest
from asgiref.sync import async_to_sync

from calls.models import CallEvent
from calls.providers.base import ToolCalls
from calls.providers.scripted import ScriptedBrain
from calls.tools import registry
from campaigns import tools
from campaigns.models import Attempt, AttemptStatus, CallingWindow
from campaigns.tests.in_call import build_campaign_call, run_tool
from telephony.tests.test_texts import empty_the_queues

NEW_YORK = ZoneInfo("America/New_York")
# A Tuesday afternoon in New York, where the contact's number is.
TUESDAY_3PM = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=NEW_YORK)
CAMPAIGN_TOOLS = ["record_outcome", "schedule_callback", "transfer_to_human", "end_call"]


@pytest.fixture
def campaign_call(world_a):
    return build_campaign_call(world_a, transfer_number="+12125550199")


@pytest.fixture
def tuesday_3pm(monkeypatch):
    monkeypatch.setattr(tools, "_now", lambda: TUESDAY_3PM)
    return TUESDAY_3PM


def other_attempts(cc):
    return Attempt.objects.filter(campaign=cc.campaign).exclude(pk=cc.attempt.pk)


# ---------------------------------------------------------------- record_outcome


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("outcome", "ends", "spoken"),
    [
        ("interested", False, "Great, I've noted that you're interested. Thank you!"),
        ("not_interested", True, "Understood, thank you for your time. Goodbye."),
        ("wrong_person", True, "Sorry to have bothered you. Goodbye."),
    ],
)
def test_record_outcome_sets_the_attempts_outcome(campaign_call, outcome, ends, spoken):
    result = run_tool("record_outcome", campaign_call.context(), outcome=outcome, notes="keen")
    campaign_call.attempt.refresh_from_db()
    assert campaign_call.attempt.outcome == outcome
    assert result.data == {"recorded": True, "outcome": outcome, "notes": "keen"}
    assert result.say == spoken and result.end_call is ends


@pytest.mark.django_db
def test_an_unknown_outcome_is_refused_and_nothing_is_recorded(campaign_call):
    result = run_tool("record_outcome", campaign_call.context(), outcome="maybe")
    assert "invalid arguments" in result.data["error"]
    campaign_call.attempt.refresh_from_db()
    assert campaign_call.attempt.outcome == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("record_outcome", {"outcome": "interested"}),
        ("schedule_callback", {"when": "tomorrow at 3 pm"}),
        ("transfer_to_human", {}),
    ],
)
def test_on_a_call_without_a_campaign_each_tool_says_it_cannot(world_a, name, arguments):
    ctx = build_campaign_call(world_a).context()
    ctx.call_id = world_a.call.pk  # the tenant's inbound call: no attempt
    result = run_tool(name, ctx, **arguments)
    assert result.data["error"] == "This call is not part of a campaign."
    assert result.say == "Sorry, I can't record that on this call."
    assert Attempt.objects.count() == 1 and not CallEvent.objects.filter(kind="transfer")


@pytest.mark.django_db
def test_another_tenants_call_is_not_found(world_a, world_b):
    theirs = build_campaign_call(world_a)
    result = run_tool(
        "record_outcome", theirs.context(tenant_id=world_b.tenant.pk), outcome="interested"
    )
    assert result.data["error"] == "This call is not part of a campaign."
    theirs.attempt.refresh_from_db()
    assert theirs.attempt.outcome == ""


# ---------------------------------------------------------------- schedule_callback


@pytest.mark.django_db
def test_a_callback_is_a_new_attempt_at_the_contacts_local_time(campaign_call, tuesday_3pm):
    result = run_tool("schedule_callback", campaign_call.context(), when="tomorrow at 3 p.m.")
    (callback,) = other_attempts(campaign_call)
    wanted = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=NEW_YORK)
    assert callback.status == AttemptStatus.SCHEDULED and callback.due_at == wanted
    assert callback.number == 2 and callback.contact == campaign_call.contact
    campaign_call.attempt.refresh_from_db()
    assert campaign_call.attempt.outcome == "callback"
    assert campaign_call.attempt.callback_at == wanted
    assert result.data == {
        "scheduled": True,
        "callback_at": "2026-12-02T15:00:00-05:00",
        "time_zone": "America/New_York",
        "moved_into_calling_hours": False,
    }
    assert result.say == "Sure, we'll call you tomorrow at 3 PM. Thank you, goodbye."
    assert result.end_call


@pytest.mark.django_db
def test_a_callback_outside_the_window_moves_to_the_next_window(campaign_call, tuesday_3pm):
    # Weekdays 10:00-12:00 only: "tomorrow at 3" (Wednesday) becomes Thursday at 10.
    for weekday in range(5):
        CallingWindow.objects.create(
            campaign=campaign_call.campaign,
            weekday=weekday,
            starts=datetime.time(10),
            ends=datetime.time(12),
        )
    result = run_tool("schedule_callback", campaign_call.context(), when="tomorrow at 3")
    (callback,) = other_attempts(campaign_call)
    assert callback.due_at == datetime.datetime(2026, 12, 3, 10, 0, tzinfo=NEW_YORK)
    assert result.data["moved_into_calling_hours"] is True
    assert result.say.startswith("The soonest we can call is on Thursday at 10 AM.")


@pytest.mark.django_db
def test_a_callback_in_the_past_or_at_night_moves_to_the_next_legal_time(
    campaign_call, tuesday_3pm
):
    run_tool("schedule_callback", campaign_call.context(), when="today at 9 am")
    (callback,) = other_attempts(campaign_call)
    # Not in the past: five minutes from now, inside today's hours (no windows: 8:00-21:00).
    assert callback.due_at == TUESDAY_3PM + datetime.timedelta(minutes=5)
    run_tool("schedule_callback", campaign_call.context(), when="tonight at 11 pm")
    callback.refresh_from_db()  # the same callback, moved: not a second one
    assert other_attempts(campaign_call).count() == 1
    assert callback.due_at == datetime.datetime(2026, 12, 2, 8, 0, tzinfo=NEW_YORK)


@pytest.mark.django_db
def test_a_time_not_understood_asks_again_and_writes_nothing(campaign_call, tuesday_3pm):
    result = run_tool("schedule_callback", campaign_call.context(), when="sometime soonish")
    assert result.data["scheduled"] is False and not result.end_call
    assert result.say == "Of course. What day and time would suit you?"
    assert not other_attempts(campaign_call).exists()


@pytest.mark.django_db
def test_no_callback_after_the_campaign_ends(campaign_call, tuesday_3pm):
    campaign_call.campaign.starts_at = TUESDAY_3PM - datetime.timedelta(days=1)
    campaign_call.campaign.ends_at = TUESDAY_3PM + datetime.timedelta(hours=3)
    campaign_call.campaign.save()
    result = run_tool("schedule_callback", campaign_call.context(), when="Friday morning")
    assert result.data == {"scheduled": False, "error": "the campaign ends before then"}
    assert not other_attempts(campaign_call).exists()


# ---------------------------------------------------------------- transfer_to_human


@pytest.mark.django_db
def test_transfer_records_the_transfer_and_queues_the_redirect_once(
    campaign_call, django_capture_on_commit_callbacks
):
    empty_the_queues()
    with django_capture_on_commit_callbacks(execute=True):
        result = run_tool("transfer_to_human", campaign_call.context())
        again = run_tool("transfer_to_human", campaign_call.context())
    assert result.say == again.say == "Connecting you now."
    assert result.data == {"transferred": True, "to": "+12125550199"}
    (event,) = CallEvent.objects.filter(call=campaign_call.call, kind="transfer")
    assert event.data == {"to": "+12125550199", "state": "requested"}
    campaign_call.attempt.refresh_from_db()
    assert campaign_call.attempt.outcome == "transferred"
    assert django_rq.get_queue("telephony").job_ids == [f"transfer-{campaign_call.call.pk}"]


@pytest.mark.django_db
def test_without_a_transfer_number_the_tool_says_it_cannot(world_a):
    cc = build_campaign_call(world_a)
    result = run_tool("transfer_to_human", cc.context())
    assert result.data == {
        "transferred": False,
        "error": "this campaign has no transfer number",
    }
    assert result.say == "I'm sorry, I can't transfer you to a person on this call."
    assert not CallEvent.objects.filter(kind="transfer").exists()
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome == ""


# ---------------------------------------------------------------- the scripted brain


def brain_calls(text: str) -> list[tuple[str, dict]]:
    """The tool calls the offline brain makes for what the callee said."""
    ctx_tools = registry.for_agent(CAMPAIGN_TOOLS)
    brain = ScriptedBrain(ctx_tools, context=None)

    async def run():
        events = brain.stream([{"role": "user", "content": text}], [t.spec() for t in ctx_tools])
        return [event async for event in events]

    found = [e for e in async_to_sync(run)() if isinstance(e, ToolCalls)]
    return [(c.name, c.arguments) for e in found for c in e.calls]


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        (" I'm interested.", [("record_outcome", {"outcome": "interested"})]),
        (" Yeah, that sounds interesting.", [("record_outcome", {"outcome": "interested"})]),
        (" No, I'm not interested, thanks.", [("record_outcome", {"outcome": "not_interested"})]),
        (" Not really interested.", [("record_outcome", {"outcome": "not_interested"})]),
        (" Sorry, wrong number.", [("record_outcome", {"outcome": "wrong_person"})]),
        (" You've got the wrong person.", [("record_outcome", {"outcome": "wrong_person"})]),
        (
            " Can you call me back tomorrow at 3 p.m.?",
            [("schedule_callback", {"when": "tomorrow at 3 p.m"})],
        ),
        (" Call me back Monday morning.", [("schedule_callback", {"when": "monday morning"})]),
        (" Try me again in two hours.", [("schedule_callback", {"when": "in two hours"})]),
        (" Can I speak to a person?", [("transfer_to_human", {})]),
        (" Could I talk to someone, please?", [("transfer_to_human", {})]),
        (" I want a real human.", [("transfer_to_human", {})]),
        (" Don't call me again.", []),  # the do-not-call tool's, not a callback
        (" What's this about?", []),
    ],
)
def test_the_scripted_brain_reaches_each_tool_from_whisper_text(heard, expected):
    assert brain_calls(heard) == expected
