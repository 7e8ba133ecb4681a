"""Production settings pass Django's deployment checks, redirect to https (but not the load
balancer's probes), send HSTS, and every page carries a Content-Security-Policy."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    """The README's production settings, and nothing of this test run's environment."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceapp.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        PUBLIC_BASE_URL="https://voice.example.com",
        ALLOWED_HOSTS="voice.example.com",
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL="postgres://voice:password@127.0.0.1:5432/voice",
        **extra,
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_hsts_preload_is_the_operators_choice():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        production_env(SECURE_HSTS_PRELOAD="true", SECURE_HSTS_SECONDS="63072000"),
    )
    assert result.returncode == 0, result.stdout + result.stderr


# What a production process answers (the test client inside it: no database is needed).
PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="voice.example.com")
out = {}
for name, path, extra in [
    ("login_http", "/admin/login/", {}),
    ("login_https", "/admin/login/", {"HTTP_X_FORWARDED_PROTO": "https"}),
    ("healthz_http", "/healthz", {}),
]:
    r = client.get(path, **extra)
    out[name] = {"status": r.status_code, "headers": dict(r.headers)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def production_answers() -> dict:
    result = run(["-c", PROBE], production_env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plain_http_is_redirected_to_https(production_answers):
    answer = production_answers["login_http"]
    assert answer["status"] == 301
    assert answer["headers"]["Location"] == "https://voice.example.com/admin/login/"


def test_load_balancer_probes_are_answered_over_http(production_answers):
    assert production_answers["healthz_http"]["status"] == 200


def test_https_pages_send_hsts_and_csp(production_answers):
    answer = production_answers["login_https"]
    assert answer["status"] == 200  # the proxy said https: no redirect loop
    assert answer["headers"]["Strict-Transport-Security"] == ("max-age=31536000; includeSubDomains")
    assert "default-src 'self'" in answer["headers"]["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SECURE_SSL_REDIRECT", "sometimes"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("API_USER_RATE", "lots"),
        ("API_ANON_RATE", "10/fortnight"),
    ],
)
def test_malformed_security_setting_names_the_variable(name, value):
    result = run(["-c", "import django; django.setup()"], production_env(**{name: value}))
    assert result.returncode != 0
    assert name in result.stderr.strip().splitlines()[-1]


# -- in this process: the CSP header on the admin and the API docs


def csp(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/docs/?script="])
def test_csp_is_strict_on_admin_and_docs(client, admin_user, path):
    if path.startswith("/api/"):
        client.force_login(admin_user)
    response = client.get(path)
    assert response.status_code == 200
    policy = csp(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"


def test_admin_change_page_has_the_csp(admin_client, world_a):
    response = admin_client.get(f"/admin/calls/call/{world_a.call.pk}/change/")
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
