"""What the System health page shows, gathered for one user.

Members of a tenant see their tenant's providers (its Twilio accounts); the platform's
providers, the breakers, the workers and the queues are the operators' business: superusers.
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field

import django_rq
from django.conf import settings
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from redis.exceptions import RedisError
from rq import Worker
from rq.registry import FailedJobRegistry

from calls.providers.resilience import CircuitBreaker, all_breakers
from health.models import ProviderCheck, ProviderStatus
from voiceapp.tenancy import scope

HISTORY_LENGTH = 20


@dataclass
class ProviderRow:
    status: ProviderStatus
    history: list[ProviderCheck]


@dataclass
class BreakerRow:
    name: str
    state: str
    failures: int
    reopens_in: int | None


@dataclass
class QueueRow:
    name: str
    queued: int
    failed: int


@dataclass
class WorkerRow:
    name: str
    state: str
    queues: str
    last_heartbeat: object


@dataclass
class HealthPage:
    providers: list[ProviderRow]
    operator: bool
    breakers: list[BreakerRow] = field(default_factory=list)
    process: str = ""
    redis: bool = False
    queues: list[QueueRow] = field(default_factory=list)
    workers: list[WorkerRow] = field(default_factory=list)
    redis_error: str = ""


def provider_rows(user) -> list[ProviderRow]:
    statuses = list(
        scope(ProviderStatus.objects.select_related("tenant"), user).order_by("tenant__name", "key")
    )
    # The latest HISTORY_LENGTH checks of every provider in one query, however many tenants.
    recent = (
        ProviderCheck.objects.filter(status__in=statuses)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("status_id"), order_by=F("checked_at").desc())
        )
        .filter(rank__lte=HISTORY_LENGTH)
        .order_by("status_id", "-checked_at")
    )
    history: dict[int, list[ProviderCheck]] = defaultdict(list)
    for check in recent:
        history[check.status_id].append(check)
    return [ProviderRow(status, history[status.pk]) for status in statuses]


def breaker_row(breaker: CircuitBreaker) -> BreakerRow:
    if breaker.is_open:
        left = breaker.open_for - (time.monotonic() - (breaker.opened_at or 0))
        return BreakerRow(breaker.name, "open", breaker.failures, max(0, round(left)))
    state = "half-open" if breaker.opened_at is not None else "closed"
    return BreakerRow(breaker.name, state, breaker.failures, None)


def build(user) -> HealthPage:
    page = HealthPage(providers=provider_rows(user), operator=bool(user.is_superuser))
    if not page.operator:
        return page
    page.breakers = [breaker_row(b) for b in all_breakers()]
    page.process = f"{socket.gethostname()} pid {os.getpid()}"
    page.redis = bool(settings.REDIS_URL)
    if page.redis:
        try:
            connection = django_rq.get_connection("default")
            for name in settings.RQ_QUEUES:
                queue = django_rq.get_queue(name)
                registry = FailedJobRegistry(queue=queue)
                page.queues.append(QueueRow(name, queue.count, registry.count))
            page.workers = [
                WorkerRow(
                    w.name,
                    w.get_state(),
                    ", ".join(w.queue_names()),
                    w.last_heartbeat,
                )
                for w in Worker.all(connection=connection)
            ]
        # Redis being down is exactly what this page must be able to show, not a 500.
        except RedisError as exc:
            page.redis_error = f"{type(exc).__name__}: {exc}"
    return page
