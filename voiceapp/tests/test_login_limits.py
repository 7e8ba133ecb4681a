"""Guessing is limited: failed admin logins per user and address (django-axes), wrong API tokens
per address, and API use per user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from voiceapp.login_limits import FailedTokenThrottle

LOGIN = "/admin/login/"
RIGHT = "pw-for-tests"


def login(address: str, username: str, password: str):
    return Client(REMOTE_ADDR=address).post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response.url == "/admin/"


def test_the_limit_is_five_a_minute():
    assert settings.LOGIN_FAILURE_LIMIT == 5 and settings.LOGIN_COOLOFF_SECONDS == 60
    assert settings.AUTHENTICATION_BACKENDS[0] == "voiceapp.login_limits.LoginLimitBackend"


def test_sixth_wrong_password_is_refused_and_then_the_right_one_too(world_a):
    user = world_a.staff.username
    for _ in range(4):
        response = login("198.51.100.7", user, "wrong")
        assert response.status_code == 200  # the form again, "please enter a correct..."
        assert "correct username and password" in response.content.decode()
    # the 5th guess is checked, and the refusal starts with its answer
    assert login("198.51.100.7", user, "wrong").status_code == 429
    refused = login("198.51.100.7", user, "wrong")
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.content.decode()
    assert "60 seconds" in refused.content.decode()
    right = login("198.51.100.7", user, RIGHT)
    assert right.status_code == 429 and not logged_in(right)


def test_lockout_is_per_user_and_address(world_a, world_b):
    for _ in range(6):
        login("198.51.100.8", world_a.staff.username, "wrong")
    assert logged_in(login("198.51.100.9", world_a.staff.username, RIGHT))  # another address
    assert logged_in(login("198.51.100.8", world_b.staff.username, RIGHT))  # another user


def test_after_the_cool_off_the_right_password_works(world_a):
    for _ in range(6):
        login("198.51.100.10", world_a.staff.username, "wrong")
    assert login("198.51.100.10", world_a.staff.username, RIGHT).status_code == 429
    # a minute passes
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(seconds=61))
    assert logged_in(login("198.51.100.10", world_a.staff.username, RIGHT))


def test_a_login_without_a_request_is_not_counted(world_a):
    from django.contrib.auth import authenticate

    assert authenticate(username=world_a.staff.username, password=RIGHT) == world_a.staff


# -- API tokens


@pytest.fixture
def address():
    """A client address of this test's own, its throttle counts cleared around it."""
    address = "203.0.113.5"
    key = FailedTokenThrottle.cache_format % {"scope": FailedTokenThrottle.scope, "ident": address}
    cache.delete(key)
    yield address
    cache.delete(key)


def with_token(address: str, key: str):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/agents/")


def test_wrong_tokens_are_throttled_per_address(world_a, address):
    token = Token.objects.create(user=world_a.staff)
    for n in range(5):
        assert with_token(address, f"{n:040x}").status_code in (401, 403)
    throttled = with_token(address, "f" * 40)
    assert throttled.status_code == 429
    assert "Too many wrong API tokens" in throttled.json()["detail"]
    assert int(throttled["Retry-After"]) > 0
    # the right token from that address waits too; from another address it works
    assert with_token(address, token.key).status_code == 429
    assert with_token("203.0.113.6", token.key).status_code == 200


def test_wrong_tokens_are_forgotten_after_the_cool_off(world_a, address, monkeypatch):
    token = Token.objects.create(user=world_a.staff)
    for n in range(6):
        with_token(address, f"{n:040x}")
    assert with_token(address, token.key).status_code == 429
    later = FailedTokenThrottle.timer() + 61
    monkeypatch.setattr(FailedTokenThrottle, "timer", lambda self: later)
    assert with_token(address, token.key).status_code == 200


def test_right_tokens_are_not_counted_as_failures(world_a, address):
    token = Token.objects.create(user=world_a.staff)
    for _ in range(8):
        assert with_token(address, token.key).status_code == 200


def test_api_use_is_throttled_per_user(world_a, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "rate", "3/minute", raising=False)
    client = APIClient()
    client.force_authenticate(world_a.staff)
    assert [client.get("/api/agents/").status_code for _ in range(4)] == [200, 200, 200, 429]
