"""JSON Web Tokens for the API: obtain, use, refresh; bad and expired tokens refused; the login
limits cover the token endpoint; a JWT sees only its user's tenants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

RIGHT = "pw-for-tests"
ADDRESS = "198.51.100.40"


def obtain(username: str, password: str, address: str = ADDRESS):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/token/", {"username": username, "password": password}, format="json"
    )


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(token: str):
    return APIClient().post("/api/token/refresh/", {"refresh": token}, format="json")


@pytest.fixture
def tokens(world_a) -> dict:
    response = obtain(world_a.staff.username, RIGHT)
    assert response.status_code == 200, response.content
    return response.json()


def test_obtain_and_use(tokens, world_a):
    assert set(tokens) == {"access", "refresh"}
    assert AccessToken(tokens["access"])["user_id"] == str(world_a.staff.pk)
    response = bearer(tokens["access"]).get(f"/api/calls/{world_a.call.pk}/")
    assert response.status_code == 200 and response.json()["id"] == world_a.call.pk


def test_a_jwt_sees_only_its_tenants_rows(tokens, world_a, world_b):
    client = bearer(tokens["access"])
    listed = [row["id"] for row in client.get("/api/calls/").json()["results"]]
    assert listed == [world_a.call.pk]
    assert client.get(f"/api/calls/{world_b.call.pk}/").status_code == 404
    assert client.get(f"/api/calls/{world_b.call.pk}/recording/").status_code == 404
    agents = client.get("/api/agents/").json()["results"]
    assert [a["id"] for a in agents] == [world_a.agent.pk]


def test_a_user_of_no_tenant_gets_a_token_but_no_rows(outsider):
    response = obtain(outsider.username, RIGHT)
    assert response.status_code == 200
    assert bearer(response.json()["access"]).get("/api/calls/").status_code == 403


def test_refresh_gives_a_working_access_token(tokens, world_a):
    response = refresh(tokens["refresh"])
    assert response.status_code == 200
    access = response.json()["access"]
    assert AccessToken(access)["user_id"] == str(world_a.staff.pk)
    assert bearer(access).get("/api/agents/").status_code == 200


def test_a_bad_refresh_token_is_refused(tokens, world_a):
    head, payload, signature = tokens["refresh"].split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    expired = RefreshToken.for_user(world_a.staff)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    for bad in ["not-a-token", tampered, tokens["access"], str(expired)]:
        response = refresh(bad)
        assert response.status_code == 401, bad
        assert "access" not in response.json()
        assert response.json()["code"] == "token_not_valid"


def refused(response, code: str) -> bool:
    # 403 rather than 401: DRF answers with the first authentication class's challenge, and
    # session authentication (first) has none.
    return response.status_code in (401, 403) and response.json()["code"] == code


def test_a_bad_or_expired_access_token_is_refused(tokens, world_a):
    assert refused(bearer(tokens["refresh"]).get("/api/agents/"), "token_not_valid")  # its type
    expired = AccessToken.for_user(world_a.staff)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert refused(bearer(str(expired)).get("/api/agents/"), "token_not_valid")
    assert refused(bearer("x.y.z").get("/api/agents/"), "token_not_valid")


def test_an_inactive_user_gets_no_tokens_and_loses_refresh(tokens, world_a):
    world_a.staff.is_active = False
    world_a.staff.save(update_fields=["is_active"])
    assert obtain(world_a.staff.username, RIGHT).status_code == 401
    assert refresh(tokens["refresh"]).status_code == 401
    assert refused(bearer(tokens["access"]).get("/api/agents/"), "user_inactive")


def test_session_and_api_tokens_still_work_beside_it(world_a):
    client = APIClient()
    client.force_login(world_a.staff)
    assert client.get("/api/agents/").status_code == 200


# -- the login limits


def test_a_wrong_password_is_a_failed_login(world_a):
    response = obtain(world_a.staff.username, "wrong")
    assert response.status_code == 401 and "access" not in response.json()
    attempt = AccessAttempt.objects.get(username=world_a.staff.username)
    assert attempt.failures_since_start == 1 and attempt.ip_address == ADDRESS


def test_repeated_wrong_passwords_lock_the_token_endpoint(world_a):
    user = world_a.staff.username
    assert [obtain(user, "wrong").status_code for _ in range(5)] == [401, 401, 401, 401, 429]
    refused = obtain(user, RIGHT)  # the right password too, until the cool-off
    assert refused.status_code == 429 and "access" not in refused.json()
    assert "Too many failed logins" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    # another address, or another user, is not locked
    assert obtain(user, RIGHT, address="198.51.100.41").status_code == 200
    # after the cool-off the right password works again
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(seconds=61)
    )
    assert obtain(user, RIGHT).status_code == 200


def test_guesses_at_the_admin_and_the_token_endpoint_add_up(world_a):
    user = world_a.staff.username
    admin = Client(REMOTE_ADDR=ADDRESS)
    for _ in range(3):
        admin.post("/admin/login/", {"username": user, "password": "wrong", "next": "/admin/"})
    assert obtain(user, "wrong").status_code == 401
    assert obtain(user, "wrong").status_code == 429  # the fifth failure, wherever it came from
    response = admin.post("/admin/login/", {"username": user, "password": RIGHT, "next": "/admin/"})
    assert response.status_code == 429


# -- in the schema


def test_the_schema_has_the_token_endpoints_and_bearer_auth(admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()
    assert {"/api/token/", "/api/token/refresh/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    calls = schema["paths"]["/api/calls/"]["get"]["security"]
    assert {"jwtAuth": []} in calls
