"""Jobs on real Redis (rq) and in-process; the Redis channel layer."""

from __future__ import annotations

import threading

import django_rq
import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from rq import SimpleWorker

from voiceapp.jobs import enqueue

done: list[int] = []
ran = threading.Event()


def record(value: int) -> None:
    done.append(value)
    ran.set()


@pytest.mark.django_db(transaction=True)
def test_job_goes_to_rq_after_commit_and_once_per_id():
    done.clear()
    queue = django_rq.get_queue("default")
    queue.empty()
    from django.db import transaction

    with transaction.atomic():
        enqueue(record, 1, job_id="record-1")
        assert queue.count == 0  # nothing is queued before the data it needs is committed
    enqueue(record, 1, job_id="record-1")
    assert queue.count == 1
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert done == [1]


@pytest.mark.django_db(transaction=True)
def test_without_redis_jobs_run_in_process(settings):
    settings.REDIS_URL = ""
    done.clear()
    ran.clear()
    enqueue(record, 2, job_id="record-2")
    assert ran.wait(5) and done == [2]


async def test_redis_channel_layer_round_trip():
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL])
    channel = await layer.new_channel()
    await layer.group_add("boards", channel)
    await layer.group_send("boards", {"type": "order.ready", "number": "A12"})
    assert await layer.receive(channel) == {"type": "order.ready", "number": "A12"}
    await layer.group_discard("boards", channel)
    await layer.flush()
