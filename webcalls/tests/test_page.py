"""The test call's page and the admin's "Talk to this agent" button: staff of the agent's
tenant only (404 for anyone else, the login page for the anonymous)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from voiceapp.models import Membership

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_staff_get_the_page_with_its_socket_and_scripts(world_a):
    response = client_for(world_a.staff).get(f"/webcalls/agents/{world_a.agent.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-socket="/ws/webcalls/agents/{world_a.agent.pk}/"' in page
    assert "/static/webcalls/test_call.js" in page
    assert "/static/webcalls/capture_worklet.js" in page
    assert "Talk to Agent a" in page


@pytest.mark.parametrize("who", ["other_tenant_staff", "outsider", "not_staff"])
def test_anyone_else_gets_404(world_a, world_b, outsider, who):
    member = get_user_model().objects.create_user("member", password="pw", is_staff=False)
    Membership.objects.create(user=member, tenant=world_a.tenant)
    user = {"other_tenant_staff": world_b.staff, "outsider": outsider, "not_staff": member}[who]
    response = client_for(user).get(f"/webcalls/agents/{world_a.agent.pk}/")
    assert response.status_code == 404
    # And their own agent's page does not lead to world A's either.
    assert client_for(world_a.staff).get("/webcalls/agents/999999/").status_code == 404


def test_the_anonymous_are_sent_to_the_login_page(world_a):
    response = client_for(None).get(f"/webcalls/agents/{world_a.agent.pk}/")
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_an_inactive_tenants_agent_cannot_be_called(world_a):
    world_a.tenant.active = False
    world_a.tenant.save(update_fields=["active"])
    response = client_for(world_a.staff).get(f"/webcalls/agents/{world_a.agent.pk}/")
    assert response.status_code == 404


def test_the_agent_admin_page_has_the_button(world_a):
    response = client_for(world_a.staff).get(f"/admin/calls/agent/{world_a.agent.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="/webcalls/agents/{world_a.agent.pk}/"' in page
    assert "Talk to this agent" in page
