"""A tenant's lines: how many of its calls are on the phone at once, across every process.

A call takes a line when it is admitted (calls.admission) and gives it back when it ends. A
process that dies gives nothing back, so a line is only held while the call proves it is alive:
before its audio starts (ringing, waiting for its stream) for UNANSWERED_HOLD_SECONDS, then for
CALL_HEARTBEAT_STALE_SECONDS after each heartbeat of the process carrying it. A killed process's
lines free themselves within that time, before the reaper even finalizes its calls.

Two stores, one behaviour:
- Redis (REDIS_URL): a sorted set per tenant of call ids scored by the moment their hold ends,
  read and changed only by Lua scripts on Redis's own clock, so taking the last line is atomic
  across every process and machine, and clocks that disagree cannot stretch a hold.
- The database (the embedded default): the tenant's admitted calls not final and still beating,
  counted under a lock on the tenant's row (and a lock in this process, for SQLite).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from calls.models import FINAL_STATUSES, Call, CallStatus
from voiceapp.models import Tenant

log = logging.getLogger(__name__)

# A call admitted but not yet carrying audio: Twilio rings for up to 60 s, and an answered
# inbound call opens its stream within a second or two.
UNANSWERED_HOLD_SECONDS = 120
KEY = "voiceapp:lines:{tenant_id}"

# KEYS[1]: the tenant's set. ARGV: call id, hold (s), cap, the key's own lifetime (s).
# 1: the call holds a line (it already did, or one was free); 0: every line is taken.
TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""
# KEYS[1]: the tenant's set. ARGV: hold (s), the key's lifetime (s), then the ids of admitted
# calls that are alive. A line lost meanwhile (Redis restarted, a ring longer than the first
# hold) is held again: the call is on the phone, so it counts, whatever the cap says now.
RENEW = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS[1]: the tenant's set. The lines held now.
COUNT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


def _key_lifetime() -> int:
    return UNANSWERED_HOLD_SECONDS + settings.CALL_HEARTBEAT_STALE_SECONDS


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    with _clients_lock:
        if url not in _clients:
            # Short timeouts: a webhook waits for this while the caller hears ringing.
            _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return _clients[url]


def _script(source: str):
    return _redis().register_script(source)


# ---------------------------------------------------------------- Redis


def _take_in_redis(call: Call, cap: int) -> bool:
    taken = _script(TAKE)(
        keys=[KEY.format(tenant_id=call.tenant_id)],
        args=[call.pk, UNANSWERED_HOLD_SECONDS, cap, _key_lifetime()],
    )
    return bool(taken)


def _renew_in_redis(lines: dict[int, list[int]]) -> None:
    hold = settings.CALL_HEARTBEAT_STALE_SECONDS
    with _redis().pipeline(transaction=False) as pipe:
        renew = _script(RENEW)
        for tenant_id, call_ids in lines.items():
            renew(
                keys=[KEY.format(tenant_id=tenant_id)],
                args=[hold, _key_lifetime(), *call_ids],
                client=pipe,
            )
        pipe.execute()


def _release_in_redis(tenant_id: int, call_id: int) -> None:
    _redis().zrem(KEY.format(tenant_id=tenant_id), call_id)


# ---------------------------------------------------------------- the database

_database_lock = threading.Lock()  # SQLite has no row locks; the embedded default is one process


def holding_lines(tenant_id: int, now: datetime | None = None) -> QuerySet[Call]:
    """The tenant's calls that hold a line now (the database's count; see the module's doc)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.CALL_HEARTBEAT_STALE_SECONDS)
    unanswered = now - timedelta(seconds=UNANSWERED_HOLD_SECONDS)
    beating = Q(status=CallStatus.IN_PROGRESS) & (
        Q(heartbeat_at__gte=stale) | Q(heartbeat_at__isnull=True, admitted_at__gte=unanswered)
    )
    waiting = ~Q(status=CallStatus.IN_PROGRESS) & Q(admitted_at__gte=unanswered)
    return (
        Call.objects.filter(tenant_id=tenant_id, admitted_at__isnull=False)
        .exclude(status__in=FINAL_STATUSES)
        .filter(beating | waiting)
    )


def _take_in_database(call: Call, cap: int) -> bool:
    with _database_lock, transaction.atomic():
        # Serialises the admissions of one tenant across processes. A write, not a SELECT FOR
        # UPDATE, comes first: on PostgreSQL it takes the same row lock (FOR NO KEY UPDATE: the
        # inserts that reference the tenant need not wait for it); on SQLite a transaction that
        # reads before it writes fails at once with "database is locked" when another writer
        # is busy, where a first write waits for it (the busy timeout).
        Tenant.objects.filter(pk=call.tenant_id).update(updated_at=F("updated_at"))
        if holding_lines(call.tenant_id).exclude(pk=call.pk).count() >= cap:
            return False
        _record_admission(call)  # under the lock: the next count sees this call
        return True


def _record_admission(call: Call) -> None:
    admitted = timezone.now()
    Call.objects.filter(pk=call.pk).update(admitted_at=admitted)
    call.admitted_at = admitted


# ---------------------------------------------------------------- the interface


def take(call: Call, cap: int) -> bool:
    """Give `call` one of its tenant's `cap` lines; False when all are taken. Taking a line the
    call already holds succeeds (and renews its hold). Records the admission on the call."""
    if settings.REDIS_URL:
        try:
            taken = _take_in_redis(call, cap)
        except (redis.RedisError, OSError) as exc:
            # Refusing every call while Redis is away would turn its outage into ours.
            log.warning(
                "lines not counted (Redis unavailable), call %s admitted: %s",
                call.pk,
                str(exc)[:200],
                extra={"call_id": call.pk},
            )
            taken = True
        if taken:
            _record_admission(call)
        return taken
    return _take_in_database(call, cap)


def held(tenant_id: int) -> int:
    """How many of the tenant's lines are held now."""
    if settings.REDIS_URL:
        return int(_script(COUNT)(keys=[KEY.format(tenant_id=tenant_id)]))
    return holding_lines(tenant_id).count()


def renew(call_ids: list[int]) -> None:
    """The calls this process carries are alive: keep their lines (the heartbeat calls this)."""
    if not settings.REDIS_URL or not call_ids:
        return  # the database counts by the heartbeat itself
    lines: dict[int, list[int]] = {}
    # Only admitted calls hold lines: a browser test call, never admitted, takes none.
    admitted = Call.objects.filter(pk__in=call_ids, admitted_at__isnull=False)
    for call_id, tenant_id in admitted.values_list("pk", "tenant_id"):
        lines.setdefault(tenant_id, []).append(call_id)
    if not lines:
        return
    try:
        _renew_in_redis(lines)
    except (redis.RedisError, OSError) as exc:
        log.warning("lines not renewed (Redis unavailable): %s", str(exc)[:200])


def release(tenant_id: int, call_id: int) -> None:
    """The call ended: its line is free (at once in Redis; the database counts final calls out)."""
    if not settings.REDIS_URL:
        return
    try:
        _release_in_redis(tenant_id, call_id)
    except (redis.RedisError, OSError) as exc:
        log.warning(
            "line of call %s not released (it expires by itself): %s", call_id, str(exc)[:200]
        )
