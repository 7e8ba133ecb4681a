"""A malformed setting stops start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 50,
    "PUBLIC_BASE_URL": "https://voice.example.test",
    "ENCRYPTION_KEY": "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy1sb24=",
}


def start(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in GOOD and k not in env}
    clean.update(GOOD)
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "voiceapp.settings"
    for name in [k for k, v in env.items() if v is None]:
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_good_settings_start():
    result = start()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("PUBLIC_BASE_URL", "voice.example.test"),
        ("PUBLIC_BASE_URL", "https://voice.example.test/some/path"),
        ("REDIS_URL", "localhost:6379"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("STREAM_TOKEN_TTL", "soon"),
        ("ENCRYPTION_KEY", "too-short"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_POOL_SIZE", "many"),
        ("ALLOWED_HOSTS", None),
    ],
)
def test_malformed_setting_names_the_variable(name, value):
    if value is None:  # a list that is fine: not an error
        assert start(ALLOWED_HOSTS="a.example,b.example").returncode == 0
        return
    result = start(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("name", ["SECRET_KEY", "PUBLIC_BASE_URL", "ENCRYPTION_KEY"])
def test_required_in_production(name):
    result = start(**{name: ""})
    assert result.returncode != 0
    assert name in result.stderr.strip().splitlines()[-1]


def test_postgres_connections_are_pooled_and_bounded():
    from django.conf import settings

    pool = settings.DATABASES["default"]["OPTIONS"]["pool"]
    assert pool["max_size"] == settings.DATABASE_POOL_SIZE > 0


def test_pool_and_persistent_connections_do_not_mix():
    result = start(DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", DATABASE_CONN_MAX_AGE="60")
    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE" in result.stderr.strip().splitlines()[-1]
