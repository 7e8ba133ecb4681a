"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> str | None:
    """None when the database can be written to now. The wait is bounded by the database
    settings (DATABASE_TIMEOUT: the pool's wait, SQLite's busy timeout)."""
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                # SQLite lets a reader through while another writer holds the lock, and the
                # webhooks write: take the write lock (then let it go) to know they can.
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("ROLLBACK")
            else:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"; the message says which
        return f"{type(exc).__name__}: {exc}".strip()[:200]
    return None


def _redis_ok() -> str | None:
    if not settings.REDIS_URL:
        return None
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    failed = {name: error for name, error in checks.items() if error}
    body = {
        "status": "unavailable" if failed else "ok",
        "checks": {name: (error or "ok") for name, error in checks.items()},
    }
    if not settings.REDIS_URL:
        body["checks"]["redis"] = "not configured"
    return JsonResponse(body, status=503 if failed else 200)
