"""Delivering events to the tenant's endpoints: written first, posted by a job, retried.

`deliver` is the one way in (orders call it for their events; campaigns may for call outcomes).
It writes one Delivery per endpoint that wants the event and queues `attempt_delivery` on
commit. The job claims its row with a conditional update, so it posts once however often it
runs. Anything but a 2xx (a timeout, a refused connection, a 500) schedules another attempt
(voiceapp.retries), which `sweep_deliveries` (on the schedule) queues when due.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import httpx
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring import metrics
from voiceapp.jobs import enqueue
from voiceapp.retries import claim, due, retry_at
from webhooks.models import Delivery, DeliveryStatus, WebhookEndpoint
from webhooks.signing import headers_for

log = logging.getLogger(__name__)

# A slow receiver must not hold a worker: it gets another attempt later.
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
RESPONSE_KEPT = 2048


def deliver(tenant_id: int, event: str, payload: dict, key: str) -> list[Delivery]:
    """Send `event` with `payload` to each of the tenant's active endpoints that want it, once
    the current transaction commits. Once per `key` per endpoint: asked again, nothing new is
    sent. Returns the deliveries (new or earlier)."""
    deliveries = []
    endpoints = WebhookEndpoint.objects.filter(tenant_id=tenant_id, active=True)
    for endpoint in endpoints:
        if not endpoint.wants(event):
            continue
        try:
            with transaction.atomic():
                delivery, created = Delivery.objects.get_or_create(
                    endpoint=endpoint,
                    key=key,
                    defaults={
                        "tenant_id": tenant_id,
                        "event": event,
                        "payload": payload,
                        "next_attempt_at": timezone.now(),
                    },
                )
                if created:
                    request_attempt(delivery.pk)
        except IntegrityError:  # the same key, at the same moment, elsewhere
            delivery = Delivery.objects.get(endpoint=endpoint, key=key)
        deliveries.append(delivery)
    return deliveries


def request_attempt(delivery_id: int) -> None:
    enqueue(attempt_delivery, delivery_id, job_id=f"webhook-{delivery_id}", queue="default")


def attempt_delivery(delivery_id: int) -> None:
    """POST one delivery. Safe to run twice: the row is claimed (pending -> delivering) first,
    so a second run finds it taken, or not yet due, and does nothing."""
    now = timezone.now()
    working = DeliveryStatus.DELIVERING
    if not claim(Delivery, delivery_id, now, waiting=DeliveryStatus.PENDING, working=working):
        return
    delivery = Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active:
        _record(delivery, now, error="The endpoint is turned off.", final=True)
        return
    body = delivery.body()
    headers = headers_for(
        endpoint.secret, event=delivery.event, delivery_id=str(delivery.uid), body=body
    )
    started = time.monotonic()
    try:
        response = httpx.post(endpoint.url, content=body, headers=headers, timeout=TIMEOUT)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        _record(delivery, now, error=f"{type(exc).__name__}: {exc}", started=started)
        return
    except Exception as exc:
        _record(delivery, now, error=f"{type(exc).__name__}: {exc}", started=started)
        raise  # unexpected: retried like the rest, and rq logs the traceback
    _record(
        delivery,
        now,
        code=response.status_code,
        text=response.content[:RESPONSE_KEPT].decode("utf-8", "replace"),
        error="" if response.is_success else f"The endpoint answered {response.status_code}.",
        started=started,
    )


def _record(
    delivery: Delivery,
    now: datetime,
    *,
    code: int | None = None,
    text: str = "",
    error: str = "",
    started: float | None = None,
    final: bool = False,
) -> None:
    changes: dict[str, object] = {
        "response_status": code,
        "response_body": text,
        "last_error": error[:300],
        "duration_ms": None if started is None else int((time.monotonic() - started) * 1000),
        "updated_at": timezone.now(),
    }
    if not error:
        changes.update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now())
    else:
        again = None if final else retry_at(delivery.attempts, now)
        changes.update(
            status=DeliveryStatus.PENDING if again else DeliveryStatus.FAILED,
            next_attempt_at=again,
        )
        log.warning(
            "webhook delivery attempt %s failed (%s): %s",
            delivery.attempts,
            "will retry" if again else "gave up",
            error[:300],
            extra={"delivery_id": delivery.pk, "endpoint_id": delivery.endpoint_id},
        )
    moved = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.DELIVERING).update(
        **changes
    )
    metrics.webhook_status(str(changes["status"]), moved)


def sweep_deliveries(now: datetime | None = None) -> int:
    """Queue every delivery due for another attempt (run on the schedule). Returns how many."""
    due_now = due(
        now or timezone.now(), waiting=DeliveryStatus.PENDING, working=DeliveryStatus.DELIVERING
    )
    ids = list(Delivery.objects.filter(due_now).values_list("pk", flat=True)[:500])
    for delivery_id in ids:
        request_attempt(delivery_id)
    return len(ids)


def redeliver(delivery_ids: list[int]) -> int:
    """An operator's "redeliver": each delivery (delivered or failed alike) is posted again at
    once, with the same delivery id. One being posted right now is left alone."""
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(pk__in=delivery_ids)
            .exclude(status=DeliveryStatus.DELIVERING)
            .values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now()
        )
        for delivery_id in ids:
            request_attempt(delivery_id)
    return len(ids)
