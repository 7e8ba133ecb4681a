"""Settings, all from the environment (see README "Settings" and .env.example)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from voiceapp.env import (
    env_bool,
    env_choice,
    env_decimal,
    env_int,
    env_list,
    env_rate,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required unless DEBUG=true")
    SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"

# The https origin Twilio reaches. Webhook and stream URLs are built from it, never from the
# request's Host header (which a proxy or an attacker controls).
PUBLIC_BASE_URL = env_url(
    "PUBLIC_BASE_URL",
    "http://localhost:8000" if DEBUG else "",
    schemes=("https", "http"),
    origin_only=True,
)
if not PUBLIC_BASE_URL:
    raise ImproperlyConfigured("PUBLIC_BASE_URL is required unless DEBUG=true")
_public_host = urlsplit(PUBLIC_BASE_URL).hostname or ""

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if _public_host and _public_host not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public_host)

try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
# The longest a request waits for the database before it fails with OperationalError: for a
# pooled connection, for SQLite's lock. Normal waits are milliseconds; a longer one is an outage,
# and failing fast lets the voice webhook still speak to the caller (Twilio gives up at 15 s,
# and the caller hears silence meanwhile) and lets /readyz answer before its probe times out.
DATABASE_TIMEOUT = env_int("DATABASE_TIMEOUT", 1, minimum=1)
# Opening a PostgreSQL connection (libpq's connect_timeout, 2 s at least): a host that does not
# answer fails instead of waiting for the operating system's TCP timeout (minutes).
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 2, minimum=2)
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _db_options.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _db_options.setdefault("timeout", DATABASE_TIMEOUT)  # sqlite3's busy wait (default 5 s)
    # A deferred transaction that reads, then writes, fails at once with "database is locked"
    # when another writer is busy (SQLite will not wait where waiting could deadlock): two
    # webhooks at once in the demo did. IMMEDIATE takes the write lock at BEGIN, waiting for it.
    _db_options.setdefault("transaction_mode", "IMMEDIATE")
# On PostgreSQL, a bounded pool (psycopg_pool): every call's records, every webhook and every
# handshake borrow a connection for one short operation and give it back, so hundreds of
# concurrent calls share a few connections instead of exhausting the server's limit.
# The pool connects in the background; a request waits DATABASE_TIMEOUT for a connection.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 20, minimum=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_SIZE:
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DATABASE_CONN_MAX_AGE must be 0 with DATABASE_POOL_SIZE > 0")
    _db_options["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_SIZE,
        "timeout": DATABASE_TIMEOUT,
    }

REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))

# Secrets at rest (Twilio auth tokens) are encrypted with Fernet. ENCRYPTION_KEY may list
# several keys, comma-separated: the first encrypts, all decrypt (key rotation).
ENCRYPTION_KEYS = env_list("ENCRYPTION_KEY", [])
if not ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEY is required unless DEBUG=true "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )
    ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    ]
for _key in ENCRYPTION_KEYS:
    try:
        if len(base64.urlsafe_b64decode(_key.encode())) != 32:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes)"
        ) from None

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "channels",
    "django_rq",
    "voiceapp",
    "telephony",
    "calls",
    "campaigns",
    "orders",
    "webhooks",
    "analytics",
    "webcalls",  # the test call from the browser
    "monitoring",
    "health",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its refusal.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "voiceapp.urls"
ASGI_APPLICATION = "voiceapp.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- Recordings (the only files in media storage): local files under MEDIA_ROOT by default, or a
# private S3-compatible bucket (django-storages). No URL serves either: calls.recordings does,
# after a tenant check, redirecting to a presigned URL valid RECORDINGS_PRESIGNED_SECONDS
# (0: the bytes are streamed through the app instead, for a bucket browsers cannot reach).
RECORDINGS_S3_BUCKET = env_str("RECORDINGS_S3_BUCKET")
RECORDINGS_PRESIGNED_SECONDS = env_int("RECORDINGS_PRESIGNED_SECONDS", 300, minimum=0)
AWS_S3_ENDPOINT_URL = env_url("AWS_S3_ENDPOINT_URL", "", schemes=("https", "http"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if RECORDINGS_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": RECORDINGS_S3_BUCKET,
            "endpoint_url": AWS_S3_ENDPOINT_URL or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            # Empty keys: boto3's own chain (instance role, AWS_* variables, ~/.aws).
            "access_key": env_str("AWS_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,  # the bucket's own (private); never public-read
            "querystring_auth": True,  # every URL it makes is presigned
            "querystring_expire": RECORDINGS_PRESIGNED_SECONDS or 60,
            "file_overwrite": False,  # a second recording of a call never replaces the first
            "signature_version": "s3v4",
            # An S3-compatible server (MinIO, Ceph, R2...) at its own address: path-style URLs.
            "addressing_style": "path" if AWS_S3_ENDPOINT_URL else None,
        },
    }
# Where the admin's player is redirected to (its Content-Security-Policy must allow it).
_RECORDINGS_ORIGINS = []
if RECORDINGS_S3_BUCKET and RECORDINGS_PRESIGNED_SECONDS:
    if AWS_S3_ENDPOINT_URL:
        _endpoint = urlsplit(AWS_S3_ENDPOINT_URL)
        _RECORDINGS_ORIGINS = [f"{_endpoint.scheme}://{_endpoint.netloc}"]
    else:  # AWS presigns on the global name; outside us-east-1 it may redirect to the region's
        _RECORDINGS_ORIGINS = [f"https://{RECORDINGS_S3_BUCKET}.s3.amazonaws.com"]
        if _region := env_str("AWS_S3_REGION_NAME"):
            _RECORDINGS_ORIGINS.append(f"https://{RECORDINGS_S3_BUCKET}.s3.{_region}.amazonaws.com")

# -- Security: HTTPS behind the TLS-terminating proxy, HSTS, the Content-Security-Policy
_HTTPS = not DEBUG and PUBLIC_BASE_URL.startswith("https://")
if not DEBUG:
    # The proxy in front terminates TLS and says so in X-Forwarded-Proto (it must set it).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = _HTTPS
    CSRF_COOKIE_SECURE = _HTTPS
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
# A load balancer probes over plain http, from inside: those answer where they are asked.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if _HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Preloading is the domain owner's decision (browsers' lists take only a whole registrable
# domain and months to leave), not this service's default: its check is quiet until asked for.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Every page, the admin's and the API docs' included, runs only the project's own scripts and
# styles, served from its own static files. Style attributes are allowed (they cannot run
# code; the call page's templates use them); <style> elements and inline scripts are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "media-src": ["'self'", *_RECORDINGS_ORIGINS],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# -- Sign-in: failed logins limited (django-axes) and the API throttled
# A login without a request (a management command, a shell) is not counted: nothing to lock.
AUTHENTICATION_BACKENDS = [
    "voiceapp.login_limits.LoginLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_COOLOFF_SECONDS = env_int("LOGIN_COOLOFF_SECONDS", 60, minimum=1)
# Proxies in front of Daphne that append the client's address to X-Forwarded-For: the client is
# that many entries from the right. Production has one (it terminates TLS); 0 trusts no header.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0 if DEBUG else 1, minimum=0)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF_SECONDS)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "voiceapp.login_limits.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_COOLOFF_MESSAGE = (
    f"Too many failed logins for this user from your address: try again in "
    f"{LOGIN_COOLOFF_SECONDS} seconds."
)
# Throttle counts (and anything else cached) are shared by every process through Redis.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

# Channels: Redis when configured, otherwise in-memory (one process, the demo).
CHANNEL_LAYER_READ_TIMEOUT = 15  # seconds; must exceed channels-redis's 5 s blocking pop
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis waits for a consumer's next message with a 5 s BZPOPMIN, and
            # redis-py's default read timeout is also 5 s: the two race and the consumer dies
            # with a TimeoutError a few seconds into every call. Reads get a margin over the
            # blocking pop; connecting stays quick to fail.
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": CHANNEL_LAYER_READ_TIMEOUT,
                        "socket_connect_timeout": 5,
                        "health_check_interval": 30,
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# rq: with no Redis, jobs run in a thread of the web process (voiceapp.jobs.enqueue).
RQ_QUEUES = {
    name: {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 300}
    for name in ("default", "telephony")
}
RQ = {"COMMIT_MODE": "on_db_commit"}

# -- Metrics (/metrics, monitoring): served only to the bearer of METRICS_TOKEN or to clients in
# METRICS_ALLOW (CIDRs); with neither set, /metrics does not exist (404).
METRICS_TOKEN = env_str("METRICS_TOKEN")
try:
    METRICS_ALLOW = [
        ipaddress.ip_network(cidr, strict=False) for cidr in env_list("METRICS_ALLOW", [])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOW: {exc}") from exc
# The phrase cache (calls.providers.phrase_cache): audio of sentences up to this many characters
# is kept, per provider and voice, up to this many bytes (in Redis when REDIS_URL is set).
PHRASE_CACHE_MAX_CHARS = env_int("PHRASE_CACHE_MAX_CHARS", 160, minimum=0)
PHRASE_CACHE_MAX_BYTES = env_int("PHRASE_CACHE_MAX_BYTES", 32 * 1024 * 1024, minimum=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # A wrong token has no username for axes to count: this one refuses an address after
        # LOGIN_FAILURE_LIMIT wrong tokens within LOGIN_COOLOFF_SECONDS (429).
        "voiceapp.login_limits.LimitedTokenAuthentication",
        # "Bearer <JWT>" from /api/token/ (voiceapp.api_tokens): signed, so not guessable.
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["voiceapp.permissions.IsTenantStaff"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("API_ANON_RATE", "60/minute"),
        "user": env_rate("API_USER_RATE", "600/minute"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
# JWT for the API: short-lived access tokens, a refresh token to get the next one.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_ACCESS_SECONDS", 300, minimum=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_REFRESH_SECONDS", 86400, minimum=60)),
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Voice agents API",
    "DESCRIPTION": "Tenant-scoped access to agents, numbers, calls and their transcripts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are for the API's users: a tenant's staff, as the API itself.
    "SERVE_PERMISSIONS": ["voiceapp.permissions.IsTenantStaff"],
    # Swagger UI and Redoc from the project's own static files (drf-spectacular-sidecar).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SttProviderEnum": "calls.models.STT_CHOICES",
        "LlmProviderEnum": "calls.models.LLM_CHOICES",
        "TtsProviderEnum": "calls.models.TTS_CHOICES",
        "OrderStatusEnum": "orders.models.OrderStatus",
    },
}

# Telephony
TWILIO_API_BASE_URL = env_url("TWILIO_API_BASE_URL", "", schemes=("https", "http"))
# Numbers written without a country code (a CSV of contacts) are read in this region.
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "US").upper()
# The morning call's text goes this long before its call.
MORNING_TEXT_LEAD_SECONDS = env_int("MORNING_TEXT_LEAD_SECONDS", 120, minimum=0)
STREAM_TOKEN_TTL = env_int("STREAM_TOKEN_TTL", 300, minimum=10)
# A media socket that has not sent its start message by then is closed (Twilio sends it at once).
MEDIA_START_TIMEOUT_SECONDS = env_int("MEDIA_START_TIMEOUT_SECONDS", 5, minimum=1)
PROVIDER_PLUGINS = env_list("PROVIDER_PLUGINS", [])

# Providers (keys are optional: an agent whose provider has no key falls back to its fallback)
DEEPGRAM_API_KEY = env_str("DEEPGRAM_API_KEY")
DEEPGRAM_URL = env_url("DEEPGRAM_URL", "", schemes=("wss", "ws"))
DEEPGRAM_REST_URL = env_url("DEEPGRAM_REST_URL", "", schemes=("https", "http"))
DEEPGRAM_STT_MODEL = env_str("DEEPGRAM_STT_MODEL", "nova-3")
ELEVENLABS_API_KEY = env_str("ELEVENLABS_API_KEY")
ELEVENLABS_BASE_URL = env_url("ELEVENLABS_BASE_URL", "", schemes=("https", "http"))
ELEVENLABS_MODEL = env_str("ELEVENLABS_MODEL", "eleven_flash_v2_5")
GROQ_API_KEY = env_str("GROQ_API_KEY")
GROQ_BASE_URL = env_url("GROQ_BASE_URL", "", schemes=("https", "http"))
GROQ_MODEL = env_str("GROQ_MODEL", "openai/gpt-oss-20b")
GROQ_WHISPER_MODEL = env_str("GROQ_WHISPER_MODEL", "whisper-large-v3-turbo")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", "", schemes=("https", "http"))
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini")
PRELOAD_SPEECH_MODELS = env_bool("PRELOAD_SPEECH_MODELS", True)
# Agents' fixed greetings synthesized into the phrase cache ahead of calls: when a web process
# starts (active tenants' agents) and when an agent is saved in the admin or the API (a job).
PREPARE_GREETINGS = env_bool("PREPARE_GREETINGS", True)
# Provider health (health/): how often each configured provider is probed, and how long a probe
# may take.
HEALTH_CHECK_SECONDS = env_int("HEALTH_CHECK_SECONDS", 300, minimum=30)
HEALTH_CHECK_TIMEOUT_SECONDS = env_int("HEALTH_CHECK_TIMEOUT_SECONDS", 5, minimum=1)
# Email (provider health notices): SMTP; with DEBUG (the demo) printed on the console instead.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost")
# The semantic end of turn (Smart Turn v3.2, calls/engine/smart_turn.py) beside the VAD and text.
SMART_TURN = env_bool("SMART_TURN", True)
# Offline whisper's encoder window: 30 s is whisper's own; 15 s hears phone utterances as well at
# a third of the CPU (~90 ms against ~260), so turns end ~170 ms sooner
# (calls/providers/whisper_window.py, bench/whisper_window.py).
WHISPER_WINDOW_SECONDS = min(30, env_int("WHISPER_WINDOW_SECONDS", 15, minimum=10))
PROVIDER_TIMEOUT_SECONDS = env_int("PROVIDER_TIMEOUT_SECONDS", 10, minimum=1)
# A primary that has not answered (connected, first token, first audio) within this long has
# its fallback started alongside; the first to answer wins. 0 turns hedging off.
PROVIDER_HEDGE_MS = env_int("PROVIDER_HEDGE_MS", 400, minimum=0)

# Durability: call records through a database hiccup, every call reaching a final status, and
# the Daphne timeouts of `manage.py serve` (README "Running for real").
RECORDER_MAX_PENDING = env_int("RECORDER_MAX_PENDING", 1000, minimum=10)
RECORDER_GIVE_UP_SECONDS = env_int("RECORDER_GIVE_UP_SECONDS", 60, minimum=1)
RECORDER_STATEMENT_TIMEOUT_MS = env_int("RECORDER_STATEMENT_TIMEOUT_MS", 3000, minimum=0)
CALL_HEARTBEAT_SECONDS = env_int("CALL_HEARTBEAT_SECONDS", 10, minimum=1)
CALL_HEARTBEAT_STALE_SECONDS = env_int(
    "CALL_HEARTBEAT_STALE_SECONDS", 45, minimum=2 * CALL_HEARTBEAT_SECONDS
)
# A stream can only open while its token is valid: a call still ringing well after that never will.
STREAM_OPEN_LIMIT_SECONDS = env_int(
    "STREAM_OPEN_LIMIT_SECONDS", STREAM_TOKEN_TTL + 60, minimum=STREAM_TOKEN_TTL
)
REAPER_INTERVAL_SECONDS = env_int("REAPER_INTERVAL_SECONDS", 60, minimum=1)
# Admission control (calls.admission): the most live calls one process carries (its measured
# capacity: bench/call_latency) and a tenant's default cap across every process (a tenant's own
# "max concurrent calls" overrides it). 0: no cap. A call over either hears "all our lines are
# busy" and is recorded with the outcome "lines_busy"; a campaign's attempt waits instead.
CALLS_PER_PROCESS_MAX = env_int("CALLS_PER_PROCESS_MAX", 0, minimum=0)
CALLS_PER_TENANT_MAX = env_int("CALLS_PER_TENANT_MAX", 0, minimum=0)
# How often recordings past their tenant's retention policy are looked for (calls.retention).
RECORDING_RETENTION_INTERVAL_SECONDS = env_int(
    "RECORDING_RETENTION_INTERVAL_SECONDS", 3600, minimum=60
)
# The ASGI server `manage.py serve` runs: Daphne (the default), or uvicorn with uvloop
# (voiceapp.uvicorn_server), which carries the same calls on less CPU (README "Benchmarks").
WEB_SERVER = env_choice("WEB_SERVER", "daphne", ("daphne", "uvicorn"))
HTTP_TIMEOUT_SECONDS = env_int("HTTP_TIMEOUT_SECONDS", 30, minimum=1)
HTTP_IDLE_TIMEOUT_SECONDS = env_int("HTTP_IDLE_TIMEOUT_SECONDS", 10, minimum=1)
WEBSOCKET_CONNECT_TIMEOUT_SECONDS = env_int("WEBSOCKET_CONNECT_TIMEOUT_SECONDS", 5, minimum=1)
WEBSOCKET_TIMEOUT_SECONDS = env_int("WEBSOCKET_TIMEOUT_SECONDS", 7200, minimum=60)
WEBSOCKET_PING_INTERVAL_SECONDS = env_int("WEBSOCKET_PING_INTERVAL_SECONDS", 20, minimum=1)
WEBSOCKET_PING_TIMEOUT_SECONDS = env_int("WEBSOCKET_PING_TIMEOUT_SECONDS", 30, minimum=1)
APPLICATION_CLOSE_TIMEOUT_SECONDS = env_int("APPLICATION_CLOSE_TIMEOUT_SECONDS", 20, minimum=1)

LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # lockouts; not every login's bookkeeping
    },
}

# Call cost (analytics): the default price per unit; a tenant's TenantPricing overrides each.
CALL_PRICES = {
    "currency": env_str("CALL_PRICE_CURRENCY", "USD").upper(),
    "carrier_per_minute": env_decimal("CALL_PRICE_CARRIER_PER_MINUTE", "0.014"),
    "stt_per_minute": env_decimal("CALL_PRICE_STT_PER_MINUTE", "0.0043"),
    "llm_per_million_input": env_decimal("CALL_PRICE_LLM_PER_MILLION_INPUT", "0.59"),
    "llm_per_million_output": env_decimal("CALL_PRICE_LLM_PER_MILLION_OUTPUT", "0.79"),
    "tts_per_thousand_chars": env_decimal("CALL_PRICE_TTS_PER_THOUSAND_CHARS", "0.18"),
}
