"""A tenant's staff see and change only their tenant's rows through the API."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ENDPOINTS = [
    ("twilio-accounts", "account"),
    ("phone-numbers", "number"),
    ("agents", "agent"),
    ("calls", "call"),
]


@pytest.fixture
def api_a(world_a, world_b):
    client = APIClient()
    token = Token.objects.create(user=world_a.staff)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def ids(response):
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize(("endpoint", "attr"), ENDPOINTS)
class TestEachEndpoint:
    def test_list_shows_only_own_rows(self, api_a, world_a, world_b, endpoint, attr):
        response = api_a.get(f"/api/{endpoint}/")
        assert response.status_code == 200
        assert ids(response) == {getattr(world_a, attr).pk}

    def test_another_tenants_row_is_404(self, api_a, world_b, endpoint, attr):
        assert api_a.get(f"/api/{endpoint}/{getattr(world_b, attr).pk}/").status_code == 404

    def test_another_tenants_row_cannot_be_changed_or_deleted(self, api_a, world_b, endpoint, attr):
        pk = getattr(world_b, attr).pk
        assert api_a.patch(f"/api/{endpoint}/{pk}/", {"name": "x"}, format="json").status_code in (
            404,
            405,
        )
        assert api_a.delete(f"/api/{endpoint}/{pk}/").status_code in (404, 405)
        model = type(getattr(world_b, attr))
        assert model.objects.filter(pk=pk).exists()

    def test_outsider_is_refused(self, outsider, world_a, endpoint, attr):
        client = APIClient()
        client.force_authenticate(outsider)
        assert client.get(f"/api/{endpoint}/").status_code == 403

    def test_anonymous_is_refused(self, world_a, endpoint, attr):
        assert APIClient().get(f"/api/{endpoint}/").status_code in (401, 403)


def test_create_sets_own_tenant(api_a, world_a):
    response = api_a.post("/api/agents/", {"name": "New agent"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["tenant"] == world_a.tenant.pk


def test_create_for_another_tenant_is_refused(api_a, world_b):
    response = api_a.post(
        "/api/agents/", {"name": "Sneaky", "tenant": world_b.tenant.pk}, format="json"
    )
    assert response.status_code == 400
    assert "tenant" in response.json()


def test_picking_another_tenants_agent_is_refused(api_a, world_a, world_b):
    response = api_a.post(
        "/api/phone-numbers/",
        {"account": world_a.account.pk, "number": "+14155550166", "agent": world_b.agent.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "agent" in response.json()


def test_phone_numbers_are_normalized_and_validated(api_a, world_a):
    bad = api_a.post(
        "/api/phone-numbers/", {"account": world_a.account.pk, "number": "12"}, format="json"
    )
    assert bad.status_code == 400 and "number" in bad.json()


def test_auth_token_is_write_only(api_a, world_a):
    body = api_a.get(f"/api/twilio-accounts/{world_a.account.pk}/").json()
    assert "auth_token" not in body


def test_tenants_endpoint_lists_own_tenant(api_a, world_a, world_b):
    assert ids(api_a.get("/api/tenants/")) == {world_a.tenant.pk}


def test_call_detail_includes_turns_and_events(api_a, world_a):
    from django.utils import timezone

    world_a.call.turns.all().delete()
    world_a.call.events.all().delete()
    world_a.call.turns.create(
        index=0, speaker="agent", text="Hi", started_at=timezone.now(), latency_ms=300
    )
    world_a.call.events.create(kind="dtmf", data={"digit": "1"})
    body = api_a.get(f"/api/calls/{world_a.call.pk}/").json()
    assert body["turns"][0]["text"] == "Hi" and body["turns"][0]["latency_ms"] == 300
    assert body["events"][0]["kind"] == "dtmf"


def test_schema_and_docs(admin_client):
    schema = admin_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/calls/{id}/" in schema.content
    assert admin_client.get("/api/docs/").status_code == 200


def test_schema_is_valid_without_warnings(db):
    from io import StringIO

    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO())
