"""A tenant's lines (calls.lines): the cap holds across threads and processes, a call that ends
frees its line however it ended, a dead process's lines free themselves, tenants never share.
Each test runs on both stores: Redis (REDIS_URL) and the database (the embedded default)."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone

from calls import lines
from calls.actions import finish_call
from calls.models import Call, CallStatus
from calls.reaper import reap_calls

pytestmark = pytest.mark.django_db(transaction=True)


def new_call(world, n: int, **fields) -> Call:
    values = {
        "tenant": world.tenant,
        "agent": world.agent,
        "direction": Call.Direction.INBOUND,
        "from_number": "+14155559999",
        "to_number": world.number.number,
        "twilio_call_sid": f"CA{world.tenant.pk:04d}{n:028d}",
        "twilio_account_sid": world.account.account_sid,
        "status": CallStatus.RINGING,
    }
    return Call.objects.create(**(values | fields))


def test_a_tenant_has_as_many_lines_as_its_cap(world_a, line_store):
    first, second, third = (new_call(world_a, n) for n in range(3))
    assert lines.take(first, 2) and lines.take(second, 2)
    assert not lines.take(third, 2)
    assert lines.take(first, 2)  # a call holding a line keeps it
    assert lines.held(world_a.tenant.pk) == 2
    admitted = dict(
        Call.objects.filter(pk__in=[first.pk, second.pk, third.pk]).values_list("pk", "admitted_at")
    )
    assert admitted[first.pk] and admitted[second.pk] and admitted[third.pk] is None


def test_two_tenants_never_share_their_lines(world_a, world_b, line_store):
    assert lines.take(new_call(world_a, 1), 1)
    assert not lines.take(new_call(world_a, 2), 1)
    assert lines.take(new_call(world_b, 1), 1)  # B's line is B's, whatever A holds
    assert lines.held(world_a.tenant.pk) == 1 and lines.held(world_b.tenant.pk) == 1


@pytest.mark.parametrize("ending", ["completed", "failed", "no-answer", "reaped"])
def test_a_call_that_ends_frees_its_line_however_it_ended(world_a, line_store, ending):
    holder, waiting = new_call(world_a, 1), new_call(world_a, 2)
    assert lines.take(holder, 1)
    assert not lines.take(waiting, 1)
    if ending == "reaped":
        # Its server died: no heartbeat for long past the limit; the reaper finalizes it.
        long_ago = timezone.now() - timedelta(minutes=10)
        Call.objects.filter(pk=holder.pk).update(
            status=CallStatus.IN_PROGRESS, status_changed_at=long_ago, heartbeat_at=long_ago
        )
        assert reap_calls() == {"server_lost": 1}
    else:
        finish_call(holder.pk, status=ending, outcome=ending, source="test")
    assert lines.held(world_a.tenant.pk) == 0
    assert lines.take(waiting, 1)


def test_a_call_whose_process_stopped_beating_frees_its_line(
    world_a, line_store, settings, monkeypatch
):
    """A killed process gives nothing back: the line is held only while the call beats."""
    settings.CALL_HEARTBEAT_STALE_SECONDS = 2
    monkeypatch.setattr(lines, "UNANSWERED_HOLD_SECONDS", 1)
    holder, waiting = new_call(world_a, 1), new_call(world_a, 2)
    assert lines.take(holder, 1)
    Call.objects.filter(pk=holder.pk).update(status=CallStatus.IN_PROGRESS)
    # Its process beats (calls.engine.heartbeat: heartbeat_at, then lines.renew) past the
    # first hold: the line stays taken.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        Call.objects.filter(pk=holder.pk).update(heartbeat_at=timezone.now())
        lines.renew([holder.pk])
        assert not lines.take(waiting, 1)
        time.sleep(0.5)
    # Then it dies (kill -9): no beat, no release. Within the stale limit the line is free.
    time.sleep(2.2)
    assert lines.held(world_a.tenant.pk) == 0
    assert lines.take(waiting, 1)


def test_a_call_admitted_whose_audio_never_starts_frees_its_line(world_a, line_store, monkeypatch):
    monkeypatch.setattr(lines, "UNANSWERED_HOLD_SECONDS", 1)
    assert lines.take(new_call(world_a, 1), 1)  # admitted, then its stream never opens
    waiting = new_call(world_a, 2)
    assert not lines.take(waiting, 1)
    time.sleep(1.2)
    assert lines.take(waiting, 1)


def test_a_live_call_whose_line_redis_lost_holds_it_again_at_its_next_beat(world_a, settings):
    """Redis restarted without its data: the calls on the phone take their lines back with
    their process's next heartbeat, so the cap counts them again."""
    holder, waiting = new_call(world_a, 1), new_call(world_a, 2)
    assert lines.take(holder, 1)
    redis.Redis.from_url(settings.REDIS_URL).delete(lines.KEY.format(tenant_id=world_a.tenant.pk))
    lines.renew([holder.pk])
    assert lines.held(world_a.tenant.pk) == 1
    assert not lines.take(waiting, 1)


def test_a_browser_call_takes_no_line_by_beating(world_a, line_store):
    """Only admitted calls hold lines: a live session that was never admitted (the browser's
    test call) is renewed by its heartbeat without taking one."""
    browser = new_call(world_a, 1, twilio_call_sid=None, status=CallStatus.IN_PROGRESS)
    Call.objects.filter(pk=browser.pk).update(heartbeat_at=timezone.now())
    lines.renew([browser.pk])
    assert lines.held(world_a.tenant.pk) == 0
    assert lines.take(new_call(world_a, 2), 1)


def _race(world, cap: int, held: int, racers: int) -> list[bool]:
    for n in range(held):
        assert lines.take(new_call(world, 100 + n), cap)
    calls = [new_call(world, n) for n in range(racers)]
    barrier = threading.Barrier(racers)
    results: list[bool] = []

    def racer(call: Call) -> None:
        try:
            barrier.wait()
            results.append(lines.take(call, cap))
        finally:
            connection.close()

    threads = [threading.Thread(target=racer, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_many_calls_racing_for_the_last_line_admit_exactly_one(world_a, line_store):
    results = _race(world_a, cap=3, held=2, racers=12)
    assert len(results) == 12 and results.count(True) == 1
    assert lines.held(world_a.tenant.pk) == 3


def test_on_postgresql_the_tenants_row_lock_alone_serialises_admissions(
    world_a, settings, monkeypatch
):
    """Processes share no Python lock: without this process's lock, PostgreSQL's row lock on
    the tenant still admits exactly one (the database store, several web processes)."""
    settings.REDIS_URL = ""
    monkeypatch.setattr(lines, "_database_lock", contextlib.nullcontext())
    results = _race(world_a, cap=3, held=2, racers=12)
    assert len(results) == 12 and results.count(True) == 1
