"""Who may read /metrics: the token's bearer or an allowed network; nobody when unconfigured."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest

from monitoring.tests.conftest import TOKEN, scrape

pytestmark = pytest.mark.django_db


def test_not_served_when_neither_token_nor_allow_list_is_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


def test_refused_without_the_token_or_with_a_wrong_one(client, metrics_on):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 403
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert response.status_code == 403
    assert b"voice_" not in response.content


def test_served_with_the_token(client, metrics_on):
    samples = scrape(client)
    assert ("voice_calls_in_progress", ()) in samples
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert b"# TYPE voice_calls_in_progress gauge" in response.content


def test_allow_list_by_client_address(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]
    settings.TRUSTED_PROXY_COUNT = 0
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    # Without a trusted proxy, a forwarded-for header is the client's say-so: ignored.
    forged = client.get("/metrics", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert forged.status_code == 403


def test_allow_list_behind_a_trusted_proxy(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "172.16.0.1"
    # The proxy appended the address it saw; what the client put before it is not trusted.
    inside = client.get("/metrics", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 10.1.0.7")
    outside = client.get("/metrics", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.1.0.7, 1.2.3.4")
    assert inside.status_code == 200
    assert outside.status_code == 403


def test_a_bad_allow_list_stops_start_up():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voiceapp.settings",
            "DEBUG": "true",
            "METRICS_ALLOW": "10.0.0.0/8,not-a-network",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "METRICS_ALLOW" in result.stderr
