"""Per-call variables in an agent's texts: filled in at set-up, refused there when missing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from calls import variables
from calls.actions import open_outbound_call
from calls.live import plan_call
from calls.models import Agent, Call, CallEvent, CallStatus
from calls.signals import call_ended

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "text",
    [
        "{first_name.__class__}",
        "{first_name[0]}",
        "{first_name!r}",
        "{first_name:>40}",
        "{0}",
        "{}",
        "{ first_name }",
        "Hello {first_name",
        "Hello first_name}",
    ],
)
def test_only_plain_names_are_placeholders(text):
    with pytest.raises(variables.TemplateError):
        variables.placeholders(text)
    with pytest.raises(variables.TemplateError):
        variables.render(text, {"first_name": "Ada", "0": "x", "": "x"})


def test_rendering_fills_names_and_keeps_doubled_braces():
    text = "Hi {first_name}, {{not a variable}} from {business_name}."
    assert variables.placeholders(text) == {"first_name", "business_name"}
    # A value is not itself rendered: a contact's name cannot smuggle in a placeholder.
    rendered = variables.render(text, {"first_name": "{business_name}", "business_name": "Bo"})
    assert rendered == "Hi {business_name}, {not a variable} from Bo."


@pytest.fixture
def agent(world_a) -> Agent:
    agent = world_a.agent
    agent.greeting = "Hi {first_name}, this is {business_name}."
    agent.system_prompt = (
        "You call {first_name} about order {order_number}. Caller: {caller_number}"
    )
    agent.reprompt = "{first_name}, are you there?"
    agent.goodbye = "Bye {first_name}!"
    agent.stt_provider, agent.tts_provider = "local_whisper", "espeak"
    agent.save()
    return agent


def test_variables_fill_the_greeting_and_the_prompt(agent, world_a):
    call = open_outbound_call(
        agent=agent,
        to_number="+44 20 7946 0018",
        from_number=world_a.number.number,
        variables={"first_name": "Ada", "order_number": 42},
    )
    plan = plan_call(call.pk)
    assert plan.agent.greeting == "Hi Ada, this is Shop A."
    assert plan.agent.system_prompt.startswith("You call Ada about order 42. Caller: +442079460018")
    assert plan.agent.reprompt == "Ada, are you there?" and plan.agent.goodbye == "Bye Ada!"
    assert plan.context.variables == {"first_name": "Ada", "order_number": 42}


def test_an_outbound_call_missing_a_variable_is_refused_when_opened(agent, world_a):
    with pytest.raises(ValidationError) as refused:
        open_outbound_call(
            agent=agent,
            to_number="+442079460018",
            from_number=world_a.number.number,
            variables={"first_name": "Ada"},
        )
    message = str(refused.value)
    assert "order_number" in message and "Agent a" in message and "first_name" not in message
    assert not Call.objects.filter(direction="outbound").exists()


def test_an_inbound_call_missing_a_variable_ends_at_set_up_without_a_word(
    agent, world_a, django_capture_on_commit_callbacks
):
    sent = []

    def receiver(sender, **kwargs):
        sent.append((kwargs["call_id"], kwargs["outcome"]))

    call_ended.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert plan_call(world_a.call.pk) is None
    finally:
        call_ended.disconnect(receiver)
    call = Call.objects.get(pk=world_a.call.pk)
    assert call.status == CallStatus.FAILED and call.outcome == "setup_error"
    assert sent == [(call.pk, "setup_error")]
    error = CallEvent.objects.get(call=call, kind="error")
    assert error.data["missing_variables"] == ["first_name", "order_number"]
    assert error.data["agent"] == "Agent a"
    assert CallEvent.objects.filter(call=call, kind="ended").count() == 1
    assert call.answered_at is None  # never put through to the agent


def test_every_call_has_the_basics(world_a):
    agent = world_a.agent
    agent.greeting = "{business_name} here, {agent_name} speaking. You called from {caller_number}."
    agent.stt_provider, agent.tts_provider = "local_whisper", "espeak"
    agent.save()
    plan = plan_call(world_a.call.pk)
    assert plan.agent.greeting == "Shop A here, Agent a speaking. You called from +14155559999."


def test_the_agent_admin_refuses_a_malformed_placeholder(world_a):
    agent = world_a.agent
    agent.greeting = "Hello {first_name.__class__}"
    with pytest.raises(ValidationError) as refused:
        agent.full_clean()
    assert "greeting" in refused.value.message_dict
    agent.greeting = "Hello {first_name}"  # a variable (checked per call) is fine
    agent.full_clean()
