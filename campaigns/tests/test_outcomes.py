"""After a campaign call: its outcome fields filled from the call (by offline rules, or by the
agent's language model against a local fake OpenAI-compatible server) and delivered once to
the tenant's webhook, however often the job runs."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from calls.actions import finish_call
from calls.models import CallEvent, CallStatus
from calls.tests.fakes import FakeChatCompletions
from calls.tests.fakes.chat import finish, text, tool_call
from campaigns import outcome_model
from campaigns.models import DoNotCall
from campaigns.outcomes import fill_outcome
from campaigns.tests.in_call import (  # noqa: F401 (fixtures)
    build_campaign_call,
    fake_twilio_fixture,
    run_jobs,
    say,
    twilio_fixture,
)
from webhooks.models import Delivery, WebhookEndpoint

FIELDS = ["interested", "callback_time", "notes", "budget"]


@pytest.fixture
def endpoints(world_a, world_b):
    """Tenant A's endpoint for campaign events, and tenant B's for everything."""
    return [
        WebhookEndpoint.objects.create(
            tenant=world_a.tenant,
            url="http://127.0.0.1:9/a",
            secret="a" * 24,
            events="campaign.call_completed",
        ),
        WebhookEndpoint.objects.create(
            tenant=world_b.tenant, url="http://127.0.0.1:9/b", secret="b" * 24
        ),
    ]


def tool_event(cc, name, arguments, result):
    CallEvent.objects.create(
        call=cc.call,
        kind=CallEvent.Kind.TOOL_CALL,
        data={"name": name, "arguments": arguments, "result": result},
    )


def end(cc, django_capture_on_commit_callbacks, outcome="agent_ended"):
    with django_capture_on_commit_callbacks(execute=True):
        finish_call(cc.call.pk, status=CallStatus.COMPLETED, outcome=outcome, source="test")


@pytest.mark.django_db
def test_rules_fill_the_fields_and_the_tenants_webhook_gets_them_once(
    world_a, endpoints, twilio, django_capture_on_commit_callbacks
):
    cc = build_campaign_call(world_a, outcome_fields=FIELDS)
    say(
        cc.call,
        ("agent", "Hi Ada, this is Shop A's automated assistant about solar panels."),
        ("caller", " Oh, I'm interested."),
        ("agent", "Great, I've noted that you're interested. Thank you!"),
    )
    tool_event(
        cc,
        "record_outcome",
        {"outcome": "interested", "notes": "Wants a quote for the roof."},
        {"recorded": True, "outcome": "interested"},
    )
    cc.attempt.outcome = "interested"
    cc.attempt.save()
    end(cc, django_capture_on_commit_callbacks)
    assert f"outcome-{cc.attempt.pk}" in run_jobs()
    fill_outcome(cc.attempt.pk)  # the job again, as a stray worker would

    cc.attempt.refresh_from_db()
    fields = {
        "interested": True,
        "callback_time": None,
        "notes": "Wants a quote for the roof.",
        "budget": None,  # no rule knows it
    }
    assert cc.attempt.outcome_data == {"fields": fields, "filled_by": "rules"}
    (delivery,) = Delivery.objects.all()  # tenant B's endpoint hears nothing of it
    assert delivery.endpoint == endpoints[0] and delivery.event == "campaign.call_completed"
    assert delivery.key == f"attempt-{cc.attempt.pk}-outcome"
    payload = delivery.payload
    assert payload["fields"] == fields and payload["filled_by"] == "rules"
    assert payload["campaign"] == {"id": cc.campaign.pk, "name": "Solar a"}
    assert payload["attempt"]["id"] == cc.attempt.pk
    assert payload["attempt"]["outcome"] == "interested"
    assert payload["contact"] == {
        "id": cc.contact.pk,
        "phone": "+12125550123",
        "name": "Ada Lovelace",
        "variables": {"product": "solar panels"},
    }
    assert payload["call"]["id"] == cc.call.pk and payload["call"]["status"] == "completed"
    assert payload["call"]["outcome"] == "agent_ended"


@pytest.mark.django_db
def test_rules_read_the_callees_words_the_callback_and_do_not_call(
    world_a, endpoints, twilio, django_capture_on_commit_callbacks
):
    cc = build_campaign_call(
        world_a, outcome_fields=["interested", "callback_time", "wrong_person", "do_not_call"]
    )
    say(cc.call, ("caller", " No, I'm not interested."), ("caller", " Never call me again."))
    DoNotCall.objects.create(tenant=world_a.tenant, phone=cc.contact.phone, call=cc.call)
    end(cc, django_capture_on_commit_callbacks)
    run_jobs()
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome_data["fields"] == {
        "interested": False,
        "callback_time": None,
        "wrong_person": False,
        "do_not_call": True,
    }


@pytest.mark.django_db
def test_a_fill_already_saved_is_not_redone(world_a, endpoints, twilio):
    cc = build_campaign_call(world_a, outcome_fields=["interested"])
    say(cc.call, ("caller", " I'm interested."))
    fill_outcome(cc.attempt.pk)
    say(cc.call, ("caller", " Actually, not interested."))  # too late: it was filled
    fill_outcome(cc.attempt.pk)
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome_data["fields"] == {"interested": True}
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_a_call_without_a_campaign_queues_nothing(
    world_a, endpoints, twilio, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        finish_call(world_a.call.pk, outcome="caller_hung_up", source="test")
    assert run_jobs() == []
    assert not Delivery.objects.exists()


# ---------------------------------------------------------------- with a language model


@contextmanager
def chat_server(chunks=None, mode="ok") -> Iterator[FakeChatCompletions]:
    """The fake OpenAI-compatible server on its own event loop, for sync code (the job)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeChatCompletions(mode=mode, chunks=chunks)
    asyncio.run_coroutine_threadsafe(fake.__aenter__(), loop).result(5)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.__aexit__(None, None, None), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def model_agent(world_a, settings):
    world_a.agent.llm_provider = "openai"
    world_a.agent.llm_model = "llama3.2"
    world_a.agent.save()
    settings.OPENAI_API_KEY = ""
    settings.PROVIDER_TIMEOUT_SECONDS = 2.0
    return world_a.agent


def model_call(world):
    cc = build_campaign_call(world, outcome_fields=FIELDS)
    say(
        cc.call,
        ("agent", "Would you like a quote for solar panels?"),
        ("caller", " Maybe, my budget is about five thousand. Call me Friday."),
    )
    return cc


ANSWER = {
    "interested": True,
    "callback_time": "2026-12-04T10:00:00-05:00",
    "notes": "Wants a quote.",
    "budget": "5000 USD",
}


@pytest.mark.django_db
def test_the_agents_model_fills_the_fields_through_a_schemad_tool_call(
    world_a, model_agent, endpoints, twilio, settings
):
    cc = model_call(world_a)
    arguments = json.dumps(ANSWER)
    chunks = [
        tool_call(0, id="call_1", name="record_call_outcome", arguments=arguments[:20]),
        tool_call(0, arguments=arguments[20:]),
        finish("tool_calls"),
    ]
    with chat_server(chunks) as server:
        settings.OPENAI_BASE_URL = f"{server.url}/v1"
        fill_outcome(cc.attempt.pk)
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome_data == {"fields": ANSWER, "filled_by": "model"}
    body = server.last.json()
    assert body["model"] == "llama3.2"
    (spec,) = body["tools"]
    schema = spec["function"]["parameters"]
    assert spec["function"]["name"] == "record_call_outcome"
    assert list(schema["properties"]) == FIELDS and schema["required"] == FIELDS
    assert schema["properties"]["interested"]["type"] == ["boolean", "null"]
    transcript = body["messages"][-1]["content"]
    assert "caller: Maybe, my budget is about five thousand. Call me Friday." in transcript
    assert Delivery.objects.get().payload["fields"] == ANSWER


@pytest.mark.django_db
def test_a_model_answering_json_as_text_is_read_too(world_a, model_agent, endpoints, settings):
    cc = model_call(world_a)
    with chat_server([text("```json\n" + json.dumps(ANSWER) + "\n```"), finish()]) as server:
        settings.OPENAI_BASE_URL = f"{server.url}/v1"
        fill_outcome(cc.attempt.pk)
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome_data["filled_by"] == "model"


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["500", "hang", "bad_types"])
def test_a_failing_model_falls_back_to_the_rules(
    world_a, model_agent, endpoints, settings, monkeypatch, mode
):
    monkeypatch.setattr(outcome_model, "TIMEOUT_SECONDS", 0.5)
    cc = model_call(world_a)
    chunks = [
        tool_call(0, id="c", name="record_call_outcome", arguments='{"interested": "very"}'),
        finish("tool_calls"),
    ]
    with chat_server(chunks, mode="ok" if mode == "bad_types" else mode) as server:
        settings.OPENAI_BASE_URL = f"{server.url}/v1"
        fill_outcome(cc.attempt.pk)
    cc.attempt.refresh_from_db()
    assert cc.attempt.outcome_data["filled_by"] == "rules (the model failed)"
    assert cc.attempt.outcome_data["fields"]["notes"] == (
        "Maybe, my budget is about five thousand. Call me Friday."
    )
    assert Delivery.objects.count() == 1
