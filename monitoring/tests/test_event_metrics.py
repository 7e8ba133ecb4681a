"""Each figure counts where its event happens: breakers, fallbacks, jobs, texts, webhooks,
queues."""

from __future__ import annotations

import threading
import uuid

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from calls.providers.base import ProviderError
from calls.providers.resilience import CircuitBreaker
from calls.tests.conftest import build_session, until  # noqa: F401 (fixture)
from calls.tests.doubles import ToneTTS
from monitoring.tests.conftest import scrape, value
from telephony.models import TextStatus
from telephony.tests.test_texts_webhooks import post_status, sent_text
from voiceapp.jobs import enqueue
from webhooks.delivery import attempt_delivery
from webhooks.models import Delivery
from webhooks.tests.test_delivery import (  # noqa: F401 (fixtures)
    Receiver,
    an_event,
    empty_queues,
    endpoint,
    receiver_url,
)


def test_a_breaker_counts_errors_and_shows_when_it_opens_and_closes():
    name = f"tts:metrics-{uuid.uuid4().hex[:6]}"
    breaker = CircuitBreaker(name, threshold=2)
    breaker.record_failure(ProviderError("hung"))
    assert value("voice_provider_errors_total", provider=name, permanent="false") == 1
    assert value("voice_provider_breaker_open", provider=name) == 0
    breaker.record_failure(ProviderError("hung"))
    assert value("voice_provider_breaker_open", provider=name) == 1
    breaker.record_success()
    assert value("voice_provider_breaker_open", provider=name) == 0
    breaker.record_failure(ProviderError("401", permanent=True))
    assert value("voice_provider_errors_total", provider=name, permanent="true") == 1
    assert value("voice_provider_breaker_open", provider=name) == 1


async def test_a_fallback_in_a_call_is_counted(build_session):  # noqa: F811
    labels = {"role": "tts", "failed": "broken-voice", "used": "backup-voice"}
    before = value("voice_provider_fallbacks_total", **labels)
    session, transport = await build_session(
        tts=ToneTTS(name="broken-voice", fail=True), tts_fallback=ToneTTS(name="backup-voice")
    )
    await until(lambda: "mark" in transport.kinds())
    assert value("voice_provider_fallbacks_total", **labels) == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_is_counted(settings):
    settings.REDIS_URL = ""  # jobs in a thread of this process
    before = value("voice_job_failures_total", job="boom")
    done = threading.Event()

    def boom() -> None:
        done.set()
        raise RuntimeError("the job failed")

    enqueue(boom)
    assert done.wait(5)
    for _ in range(100):
        if value("voice_job_failures_total", job="boom") == before + 1:
            break
        threading.Event().wait(0.02)
    assert value("voice_job_failures_total", job="boom") == before + 1


@pytest.mark.django_db
def test_text_statuses_are_counted_once_per_move(client, world_a):
    text = sent_text(world_a)
    before = value("voice_texts_total", status=TextStatus.DELIVERED)
    for status in ["delivered", "delivered", "sent"]:  # a repeat and a late callback
        assert post_status(client, world_a, text, status).status_code == 200
    assert value("voice_texts_total", status=TextStatus.DELIVERED) == before + 1


@pytest.mark.django_db
def test_webhook_deliveries_are_counted_by_status(world_a, endpoint):  # noqa: F811
    pending, delivered = (
        value("voice_webhook_deliveries_total", status=s) for s in ("pending", "delivered")
    )
    Receiver.script[:] = [500]
    delivery = an_event(world_a)
    attempt_delivery(delivery.pk)
    attempt_delivery(delivery.pk)  # not due yet: nothing happens, nothing counted
    assert value("voice_webhook_deliveries_total", status="pending") == pending + 1
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    attempt_delivery(delivery.pk)
    assert value("voice_webhook_deliveries_total", status="delivered") == delivered + 1


def failing_job() -> None:
    raise RuntimeError("this job fails")


@pytest.mark.django_db
def test_queue_depths_and_failed_jobs_are_read_at_scrape_time(client, metrics_on):
    name = f"metrics-test-{uuid.uuid4().hex[:8]}"
    metrics_on.RQ_QUEUES = {name: {"URL": metrics_on.REDIS_URL, "DEFAULT_TIMEOUT": 30}}
    queue = django_rq.get_queue(name, commit_mode="auto")  # not deferred to a commit
    try:
        queue.enqueue(failing_job)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        queue.enqueue(failing_job)
        queue.enqueue(failing_job)
        samples = scrape(client)
        assert samples[("voice_queue_jobs", (("queue", name),))] == 2
        assert samples[("voice_queue_failed_jobs", (("queue", name),))] == 1
    finally:
        queue.empty()
        for job_id in queue.failed_job_registry.get_job_ids():
            queue.failed_job_registry.remove(job_id, delete_job=True)


def test_no_queue_figures_without_redis(client, metrics_on, db):
    metrics_on.REDIS_URL = ""
    assert not [k for k in scrape(client) if k[0].startswith("voice_queue_")]
