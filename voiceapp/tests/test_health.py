from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test import override_settings


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_with_database_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_503_when_the_database_is_unreachable(client, monkeypatch, django_db_blocker):
    # A real wrapper on port 1, with the real pool settings (its own alias, so its own pool),
    # really connecting: the probe is answered within the bounded pool wait.
    unreachable = DatabaseWrapper(
        {**settings.DATABASES["default"], "HOST": "127.0.0.1", "PORT": "1"}, alias="unreachable"
    )
    monkeypatch.setattr("voiceapp.health.connection", unreachable)
    started = time.monotonic()
    try:
        with django_db_blocker.unblock():
            response = client.get("/readyz")
    finally:
        unreachable.close_pool()
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["checks"]["database"].startswith("OperationalError")
    assert body["checks"]["redis"] == "ok"
    assert time.monotonic() - started < 2


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_readyz_503_when_redis_is_unreachable(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("ConnectionError")
