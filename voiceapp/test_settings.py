"""Settings for the test suite: the real settings module, fed a test environment.

The suite runs on a real PostgreSQL and a real Redis (TEST_DATABASE_URL / TEST_REDIS_URL
override the local defaults).
"""

import hashlib
import os
from pathlib import Path

# Each checkout gets its own test database and Redis database, so two suites running at once
# (a developer's and CI's clean clone, say) do not trip over each other.
_checkout = int(hashlib.sha1(str(Path(__file__).resolve().parent.parent).encode()).hexdigest(), 16)

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("PUBLIC_BASE_URL", "https://voice.example.test")
os.environ.setdefault("ENCRYPTION_KEY", "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy1sb24=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test client speaks plain http
os.environ["DATABASE_URL"] = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/voiceapp"
)
os.environ["REDIS_URL"] = os.environ.get(
    "TEST_REDIS_URL", f"redis://127.0.0.1:6379/{8 + _checkout % 8}"
)

from voiceapp.settings import *  # noqa: E402,F403

# Consumers are tested in-process on the in-memory layer; the Redis layer has tests of its own,
# and a server process started by a test may ask for it (TEST_CHANNEL_LAYER=redis).
if os.environ.get("TEST_CHANNEL_LAYER") != "redis":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / ".test-media"  # noqa: F405
if "TEST_DATABASE_URL" not in os.environ:
    DATABASES["default"]["TEST"] = {"NAME": f"test_voiceapp_{_checkout % 10**8}"}  # noqa: F405
