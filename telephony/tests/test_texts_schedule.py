"""Retries need no operator: the schedule's sweep sends a text that is due again, with Redis
(rq's cron scheduler and a worker) and without it (the schedule and jobs in this process)."""

from __future__ import annotations

import threading
import time

import django_rq
import pytest
import redis
from django.conf import settings
from django.utils import timezone
from rq import SimpleWorker
from rq.cron import CronScheduler

from telephony.models import Text, TextStatus
from telephony.tests.test_texts import CUSTOMER, QUEUES, messages, rest  # noqa: F401 (fixture)
from telephony.texts import sweep_texts
from voiceapp.jobs import start_schedule_in_process
from webhooks.delivery import sweep_deliveries

pytestmark = pytest.mark.django_db(transaction=True)


def a_text_due_again(world) -> Text:
    """A text whose first attempt failed, its backoff over."""
    return Text.objects.create(
        tenant=world.tenant,
        key="order-1-ready",
        to=CUSTOMER,
        from_number=world.number.number,
        body="ready",
        attempts=1,
        last_error="Twilio 500 error 20500: down",
        next_attempt_at=timezone.now(),
    )


def test_the_cron_config_sweeps_texts_and_deliveries_every_10_seconds():
    scheduler = CronScheduler(connection=redis.Redis.from_url(settings.REDIS_URL), name="t")
    scheduler.load_config_from_file("voiceapp.cron")
    jobs = {job.func: job for job in scheduler.get_jobs()}
    assert jobs[sweep_texts].interval == 10 and jobs[sweep_texts].queue_name == "telephony"
    assert jobs[sweep_deliveries].interval == 10


def test_with_redis_the_scheduled_sweep_and_a_worker_send_a_due_text(world_a, rest):  # noqa: F811
    text = a_text_due_again(world_a)
    connection = redis.Redis.from_url(settings.REDIS_URL)
    scheduler = CronScheduler(connection=connection, name="test-sweep")
    scheduler.load_config_from_file("voiceapp.cron")
    scheduler.enqueue_jobs()
    queues = [django_rq.get_queue(name) for name in QUEUES]
    SimpleWorker(queues, connection=connection).work(burst=True)
    text.refresh_from_db()
    assert text.status == TextStatus.QUEUED and text.attempts == 2
    assert len(messages(rest)) == 1


def test_without_redis_the_in_process_schedule_sends_a_due_text(
    world_a,
    rest,  # noqa: F811
    settings,
):
    settings.REDIS_URL = ""
    text = a_text_due_again(world_a)
    stop = threading.Event()
    thread = start_schedule_in_process("voiceapp.cron", stop=stop)
    try:
        deadline = time.monotonic() + 20
        while Text.objects.get(pk=text.pk).status != TextStatus.QUEUED:
            assert time.monotonic() < deadline, "the in-process sweep did not send the text"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert len(messages(rest)) == 1
