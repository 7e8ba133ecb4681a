"""The call actions: opening an inbound or outbound call, finishing one; `call_ended` on commit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from calls.actions import finish_call, open_inbound_call, open_outbound_call
from calls.models import Call, CallEvent, CallStatus
from calls.signals import call_ended


@pytest.fixture
def ended_signals():
    sent: list[dict] = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    call_ended.connect(receiver)
    yield sent
    call_ended.disconnect(receiver)


@pytest.mark.django_db
def test_an_inbound_call_is_opened_once_per_call_sid(world_a):
    kwargs = dict(
        tenant=world_a.tenant,
        agent=world_a.agent,
        call_sid="CA" + "7" * 32,
        account_sid=world_a.account.account_sid,
        from_number="+14155559999",
        to_number=world_a.number.number,
    )
    call = open_inbound_call(**kwargs)
    again = open_inbound_call(**kwargs)
    assert again.pk == call.pk
    assert call.status == CallStatus.RINGING and call.direction == "inbound"
    assert [h["status"] for h in call.status_history] == ["ringing"]
    assert call.status_history[0]["source"] == "voice webhook"


@pytest.mark.django_db
def test_an_outbound_call_is_opened_queued_with_its_variables(world_a):
    call = open_outbound_call(
        agent=world_a.agent,
        to_number="+44 20 7946 0018",
        from_number=world_a.number.number,
        variables={"first_name": "Ada", "visits": 3},
    )
    call.refresh_from_db()
    assert call.direction == "outbound" and call.status == CallStatus.QUEUED
    assert call.to_number == "+442079460018" and call.tenant == world_a.tenant
    assert call.variables == {"first_name": "Ada", "visits": 3}
    assert [h["status"] for h in call.status_history] == ["queued"]
    assert call.twilio_call_sid is None  # dialling is the carrier side's job


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [
        ({"to_number": "12345"}, "to_number"),
        ({"from_number": "not a number"}, "from_number"),
        ({"variables": {"first name": "Ada"}}, "variables"),
        ({"variables": {"address": {"street": "x"}}}, "variables"),
        ({"variables": ["Ada"]}, "variables"),
    ],
)
def test_an_outbound_call_with_bad_input_is_refused(world_a, change, field):
    kwargs = {
        "agent": world_a.agent,
        "to_number": "+442079460018",
        "from_number": world_a.number.number,
        **change,
    }
    with pytest.raises(ValidationError) as refused:
        open_outbound_call(**kwargs)
    assert field in refused.value.message_dict
    assert not Call.objects.filter(direction="outbound").exists()


@pytest.mark.django_db
def test_an_outbound_call_for_another_tenants_agent_is_refused(world_a, world_b):
    with pytest.raises(ValidationError):
        open_outbound_call(
            agent=world_b.agent,
            tenant=world_a.tenant,
            to_number="+442079460018",
            from_number=world_a.number.number,
        )


@pytest.mark.django_db
def test_finish_call_ends_the_call_once(world_a, ended_signals, django_capture_on_commit_callbacks):
    call = world_a.call
    with django_capture_on_commit_callbacks(execute=True):
        assert finish_call(call.pk, status="no-answer", outcome="no-answer", source="test")
    with django_capture_on_commit_callbacks(execute=True):
        assert not finish_call(call.pk, outcome="caller_hung_up", source="again")
    call.refresh_from_db()
    assert call.status == "no-answer" and call.outcome == "no-answer"
    assert call.status_history[-1] == {**call.status_history[-1], "source": "test"}
    assert [e.data for e in CallEvent.objects.filter(call=call, kind="ended")] == [
        {"outcome": "no-answer"}
    ]
    assert ended_signals == [
        {
            "signal": call_ended,
            "call_id": call.pk,
            "outcome": "no-answer",
            "status": "no-answer",
            "direction": "inbound",
        }
    ]


@pytest.mark.django_db
def test_call_ended_waits_for_the_commit(
    world_a, ended_signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        finish_call(world_a.call.pk, outcome="agent_ended", source="test")
        assert ended_signals == []  # saved, not yet committed: nobody hears of it
    assert ended_signals == []
    for callback in callbacks:
        callback()  # the commit
    assert [s["outcome"] for s in ended_signals] == ["agent_ended"]


@pytest.mark.django_db(transaction=True)
def test_call_ended_is_not_sent_when_the_transaction_rolls_back(world_a, ended_signals):
    with pytest.raises(RuntimeError), transaction.atomic():
        finish_call(world_a.call.pk, outcome="agent_ended", source="test")
        raise RuntimeError("something after it failed")
    assert ended_signals == []
    call = Call.objects.get(pk=world_a.call.pk)
    assert call.status == CallStatus.RINGING and call.outcome == ""
    finish_call(world_a.call.pk, outcome="agent_ended", source="test")  # autocommit: sent
    assert [s["outcome"] for s in ended_signals] == ["agent_ended"]


@pytest.mark.django_db
def test_a_failing_receiver_does_not_stop_the_others(
    world_a, ended_signals, django_capture_on_commit_callbacks, caplog
):
    def broken(sender, **kwargs):
        raise ValueError("an app's bug")

    call_ended.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            finish_call(world_a.call.pk, outcome="agent_ended", source="test")
    finally:
        call_ended.disconnect(broken)
    assert len(ended_signals) == 1
    assert "call_ended receiver" in caplog.text and "an app's bug" in caplog.text
