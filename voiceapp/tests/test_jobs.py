"""Jobs on real Redis (rq) and in-process; the Redis channel layer."""

from __future__ import annotations

import threading

import django_rq
import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from rq import SimpleWorker

from voiceapp.jobs import enqueue, enqueue_each

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


@pytest.mark.django_db(transaction=True)
def test_many_jobs_go_to_rq_in_one_batch_after_commit():
    done.clear()
    queue = django_rq.get_queue("default")
    queue.empty()
    from django.db import transaction

    with transaction.atomic():
        enqueue_each(record, [(3,), (4,), (5,)], job_ids=["r-3", "r-4", "r-5"])
        assert queue.count == 0  # nothing before the commit
    assert sorted(queue.job_ids) == ["r-3", "r-4", "r-5"]
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert sorted(done) == [3, 4, 5]
    with pytest.raises(ValueError):
        enqueue_each(record, [(6,)], job_ids=[])


@pytest.mark.django_db(transaction=True)
def test_many_jobs_without_redis_run_in_process(settings):
    settings.REDIS_URL = ""
    done.clear()
    enqueue_each(record, [(7,), (8,)], job_ids=["r-7", "r-8"])
    for _ in range(100):
        if sorted(done) == [7, 8]:
            break
        threading.Event().wait(0.05)
    assert sorted(done) == [7, 8]


async def test_redis_channel_layer_round_trip():
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL])
    channel = await layer.new_channel()
    await layer.group_add("boards", channel)
    await layer.group_send("boards", {"type": "order.ready", "number": "A12"})
    assert await layer.receive(channel) == {"type": "order.ready", "number": "A12"}
    await layer.group_discard("boards", channel)
    await layer.flush()
