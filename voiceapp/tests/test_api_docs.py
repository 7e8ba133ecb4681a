"""The API schema and docs: served to the API's users (a tenant's staff), from the project's own
static files."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from voiceapp.models import Membership


@pytest.fixture
def clerk(world_a):
    """A staff member (not an owner) of one tenant: the user the schema failed for."""
    user = get_user_model().objects.create_user("clerk", password="pw-for-tests", is_staff=True)
    Membership.objects.create(user=user, tenant=world_a.tenant, role=Membership.Role.STAFF)
    return user


def test_schema_serves_a_single_tenant_staff_member(client, clerk):
    client.force_login(clerk)
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/twilio-accounts/{id}/" in response.content
    assert b"Tenant object" not in response.content  # no per-user default leaks into it


def test_schema_serves_a_token_user(clerk):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=clerk).key}")
    assert client.get("/api/schema/").status_code == 200


def test_anonymous_and_outsiders_get_no_schema(client, outsider, world_a):
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(outsider)
    assert client.get("/api/schema/").status_code == 403


def test_docs_send_the_anonymous_to_login(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response.url == "/admin/login/?next=/api/docs/"


def test_outsider_gets_no_docs(client, outsider):
    client.force_login(outsider)
    assert client.get("/api/docs/").status_code == 403


def test_docs_load_their_assets_from_static_and_nothing_inline(client, clerk):
    client.force_login(clerk)
    page = client.get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(s.endswith("swagger-ui-bundle.js") for s in sources)
    for source in sources:
        assert source.startswith("/static/") or source.startswith("/api/docs/?"), source
    assert "<style" not in page
    assert re.search(r"<script>", page) is None  # every script has a src
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content


def test_single_tenant_create_still_defaults_the_tenant(clerk, world_a):
    client = APIClient()
    client.force_authenticate(clerk)
    response = client.post("/api/agents/", {"name": "Defaulted"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["tenant"] == world_a.tenant.pk
