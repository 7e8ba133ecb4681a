"""A tenant's staff see, search, change, delete and pick only their tenant's rows in the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import Agent, Call, CallEvent, Turn
from telephony.models import PhoneNumber, TwilioAccount

# (model, attribute of the World fixture, a search term that matches both tenants' rows)
OWNED = [
    (TwilioAccount, "account", "Account"),
    (PhoneNumber, "number", "Line"),
    (Agent, "agent", "Agent"),
    (Call, "call", "+1415555"),
    (Turn, "turn", "Hello from shop"),
    (CallEvent, "event", "+1415555"),
]


def url(model, action, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


@pytest.fixture
def staff_a(client, world_a, world_b):
    client.force_login(world_a.staff)
    return client


@pytest.mark.parametrize(("model", "attr", "term"), OWNED)
class TestEachOwnedModel:
    def test_changelist_shows_only_own_rows(self, staff_a, world_a, world_b, model, attr, term):
        response = staff_a.get(url(model, "changelist"))
        assert response.status_code == 200
        ids = {obj.pk for obj in response.context["cl"].result_list}
        assert getattr(world_a, attr).pk in ids
        assert getattr(world_b, attr).pk not in ids

    def test_search_finds_only_own_rows(self, staff_a, world_a, world_b, model, attr, term):
        response = staff_a.get(url(model, "changelist"), {"q": term})
        ids = {obj.pk for obj in response.context["cl"].result_list}
        assert ids == {getattr(world_a, attr).pk}

    def test_change_page_of_another_tenant_is_not_shown(self, staff_a, world_b, model, attr, term):
        response = staff_a.get(url(model, "change", getattr(world_b, attr).pk))
        assert response.status_code == 302  # the admin's "does not exist" redirect
        assert response.url == reverse("admin:index")

    def test_own_change_page_is_shown(self, staff_a, world_a, model, attr, term):
        assert staff_a.get(url(model, "change", getattr(world_a, attr).pk)).status_code == 200

    def test_delete_of_another_tenants_row_is_refused(self, staff_a, world_b, model, attr, term):
        target = getattr(world_b, attr)
        staff_a.post(url(model, "delete", target.pk), {"post": "yes"})
        assert model.objects.filter(pk=target.pk).exists()

    def test_bulk_delete_action_skips_other_tenants(
        self, staff_a, world_a, world_b, model, attr, term
    ):
        target = getattr(world_b, attr)
        staff_a.post(
            url(model, "changelist"),
            {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"},
        )
        assert model.objects.filter(pk=target.pk).exists()

    def test_outsider_sees_nothing(self, client, outsider, world_a, model, attr, term):
        client.force_login(outsider)
        assert client.get(url(model, "changelist")).status_code == 403


def test_foreign_key_choices_are_own_rows_only(staff_a, world_a, world_b):
    response = staff_a.get(url(PhoneNumber, "add"))
    form = response.context["adminform"].form
    assert set(form.fields["agent"].queryset) == {world_a.agent}
    assert set(form.fields["account"].queryset) == {world_a.account}
    assert "tenant" not in form.fields  # one tenant: set for them


def test_picking_another_tenants_row_by_id_is_refused(staff_a, world_a, world_b):
    response = staff_a.post(
        url(PhoneNumber, "add"),
        {
            "account": world_b.account.pk,
            "number": "+14155550177",
            "friendly_name": "x",
            "agent": world_b.agent.pk,
        },
    )
    assert response.status_code == 200  # the form comes back with errors
    assert "Select a valid choice" in response.content.decode()
    assert not PhoneNumber.objects.filter(number="+14155550177").exists()


def test_create_sets_the_tenant(staff_a, world_a):
    response = staff_a.post(
        url(PhoneNumber, "add"),
        {
            "account": world_a.account.pk,
            "number": "(415) 555-0177".replace("(415) ", "+1415"),
            "friendly_name": "New",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PhoneNumber.objects.get(friendly_name="New").tenant == world_a.tenant


def test_auth_token_is_never_shown(staff_a, world_a):
    response = staff_a.get(url(TwilioAccount, "change", world_a.account.pk))
    assert b"token-a" not in response.content


def test_staff_member_of_two_tenants_sees_both_and_picks(client, world_a, world_b):
    from voiceapp.models import Membership

    Membership.objects.create(user=world_a.staff, tenant=world_b.tenant)
    client.force_login(world_a.staff)
    response = client.get(url(Agent, "changelist"))
    assert {a.pk for a in response.context["cl"].result_list} == {
        world_a.agent.pk,
        world_b.agent.pk,
    }
    form = client.get(url(Agent, "add")).context["adminform"].form
    assert set(form.fields["tenant"].queryset) == {world_a.tenant, world_b.tenant}


def test_superuser_sees_everything(admin_client, world_a, world_b):
    response = admin_client.get(url(Agent, "changelist"))
    assert {a.pk for a in response.context["cl"].result_list} == {
        world_a.agent.pk,
        world_b.agent.pk,
    }


def test_call_page_shows_timeline_and_transcript(staff_a, world_a):
    from django.utils import timezone

    from calls.models import Turn

    world_a.call.apply_status("in-progress", source="status callback")
    Turn.objects.filter(call=world_a.call).delete()
    Turn.objects.create(
        call=world_a.call, index=0, speaker="agent", text="Hello there", started_at=timezone.now()
    )
    Turn.objects.create(
        call=world_a.call,
        index=1,
        speaker="caller",
        text="What are your hours?",
        started_at=timezone.now(),
    )
    Turn.objects.create(
        call=world_a.call,
        index=2,
        speaker="agent",
        text="Nine to five.",
        started_at=timezone.now(),
        latency_ms=412,
        timings={"stt_final": 120, "turn_signal": "model", "turn_score": 0.97},
    )
    from django.core.files.base import ContentFile

    world_a.call.recording.save("call.wav", ContentFile(b"RIFF0000WAVE"))
    body = staff_a.get(url(Call, "change", world_a.call.pk)).content.decode()
    assert "<audio controls" in body
    assert reverse("admin:calls_call_recording", args=[world_a.call.pk]) in body
    assert "in-progress" in body and "status callback" in body
    assert (
        body.index("Hello there") < body.index("What are your hours?") < body.index("Nine to five.")
    )
    assert "answered in 412 ms" in body
    assert "stt_final 120 ms · turn_score 0.97 · turn_signal model" in body


def test_agent_tools_are_chosen_from_the_registry(staff_a, world_a):
    from django.forms.models import model_to_dict

    from calls.admin import AgentForm

    page = staff_a.get(url(Agent, "change", world_a.agent.pk)).content.decode()
    assert 'value="lookup_info"' in page and 'value="end_call"' in page
    data = {**model_to_dict(world_a.agent), "tools": ["end_call", "lookup_info"]}
    form = AgentForm(data=data, instance=world_a.agent)
    assert form.is_valid(), form.errors
    assert form.save().tools == ["end_call", "lookup_info"]
    assert not AgentForm(
        data={**data, "tools": ["launch_rockets"]}, instance=world_a.agent
    ).is_valid()


def test_searching_transcripts_lists_each_call_once(staff_a, world_a):
    from django.utils import timezone

    for index in (1, 2):
        Turn.objects.create(
            call=world_a.call,
            index=index,
            speaker="caller",
            text="what are your hours",
            started_at=timezone.now(),
        )
    response = staff_a.get(url(Call, "changelist"), {"q": "hours"})
    assert [c.pk for c in response.context["cl"].result_list] == [world_a.call.pk]
