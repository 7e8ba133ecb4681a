"""Every call reaches a final status: the reaper finalizes calls whose process stopped beating
and calls whose stream never opened, once, and runs on the rq cron schedule (or in-process)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from calls.models import Call, CallEvent, CallStatus
from calls.reaper import reap_calls
from calls.tests.conftest import _make_call
from voiceapp.jobs import start_schedule_in_process

pytestmark = pytest.mark.django_db(transaction=True)


def _call(status: str, *, ago: float, heartbeat_ago: float | None = None, **fields) -> Call:
    call = _make_call()
    now = timezone.now()
    Call.objects.filter(pk=call.pk).update(
        status=status,
        status_changed_at=now - timedelta(seconds=ago),
        answered_at=now - timedelta(seconds=ago) if status == CallStatus.IN_PROGRESS else None,
        heartbeat_at=None if heartbeat_ago is None else now - timedelta(seconds=heartbeat_ago),
        **fields,
    )
    return Call.objects.get(pk=call.pk)


def _ended(call: Call) -> list[dict]:
    return [e.data for e in CallEvent.objects.filter(call=call, kind="ended")]


def test_the_reaper_finalizes_only_the_calls_no_one_will(settings):
    stale = settings.CALL_HEARTBEAT_STALE_SECONDS
    lost = _call(CallStatus.IN_PROGRESS, ago=600, heartbeat_ago=stale + 5)
    alive = _call(CallStatus.IN_PROGRESS, ago=600, heartbeat_ago=1)
    never_beat = _call(CallStatus.IN_PROGRESS, ago=stale + 5)
    ringing = _call(CallStatus.RINGING, ago=settings.STREAM_OPEN_LIMIT_SECONDS + 5)
    just_rang = _call(CallStatus.RINGING, ago=5)
    outbound = _call(CallStatus.QUEUED, ago=86400, direction=Call.Direction.OUTBOUND)
    done = _call(CallStatus.COMPLETED, ago=86400)

    assert reap_calls() == {"server_lost": 1, "stream_never_opened": 2}

    lost.refresh_from_db()
    assert lost.status == "completed" and lost.outcome == "server_lost"
    assert lost.ended_at == lost.heartbeat_at  # the last moment it was known alive
    assert lost.status_history[-1]["source"] == "reaper: server_lost"
    (event,) = _ended(lost)
    assert (
        event["reaped"]
        and event["outcome"] == "server_lost"
        and "stopped beating" in (event["reason"])
    )
    for call in (never_beat, ringing):
        call.refresh_from_db()
        assert call.status == "failed" and call.outcome == "stream_never_opened"
        assert _ended(call)[0]["reason"] == "no media stream opened for the call"
    for call, status in (
        (alive, "in-progress"),
        (just_rang, "ringing"),
        (outbound, "queued"),
        (done, "completed"),
    ):
        call.refresh_from_db()
        assert call.status == status and call.outcome == "" and not _ended(call)

    # Twice changes nothing more.
    assert reap_calls() == {}
    assert CallEvent.objects.filter(kind="ended").count() == 3


def test_a_call_another_reaper_holds_is_skipped(settings):
    call = _call(CallStatus.IN_PROGRESS, ago=600, heartbeat_ago=600)
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
    ) as other:
        other.execute("SELECT id FROM calls_call WHERE id = %s FOR UPDATE", [call.pk])
        assert reap_calls() == {}  # skipped, not waited for
        other.rollback()
    assert reap_calls() == {"server_lost": 1}


def test_the_cron_config_registers_the_reaper_on_rq():
    connection_ = redis.Redis.from_url(settings.REDIS_URL)
    scheduler = CronScheduler(connection=connection_, name="test-cron")
    scheduler.load_config_from_file("voiceapp.cron")
    (job,) = [job for job in scheduler.get_jobs() if job.func is reap_calls]
    assert job.interval == 60 and job.queue_name == "default"

    lost = _call(CallStatus.IN_PROGRESS, ago=600, heartbeat_ago=600)
    queue = Queue("default", connection=connection_)
    queue.empty()
    assert job in scheduler.enqueue_jobs()
    assert job not in scheduler.enqueue_jobs()  # not due again for a minute
    SimpleWorker([queue], connection=connection_).work(burst=True)
    lost.refresh_from_db()
    assert lost.outcome == "server_lost"


def test_without_redis_the_schedule_runs_in_process():
    lost = _call(CallStatus.IN_PROGRESS, ago=600, heartbeat_ago=600)
    stop = threading.Event()
    thread = start_schedule_in_process("voiceapp.cron", stop=stop)
    try:
        deadline = time.monotonic() + 20
        while Call.objects.get(pk=lost.pk).status != "completed":
            assert time.monotonic() < deadline, "the in-process schedule did not reap the call"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert Call.objects.get(pk=lost.pk).outcome == "server_lost"
