import asyncio
import time

from prometheus_client import REGISTRY

from monitoring import loop_lag, metrics


def lag_observed() -> tuple[float, float]:
    count = REGISTRY.get_sample_value("voice_event_loop_lag_seconds_count") or 0.0
    total = REGISTRY.get_sample_value("voice_event_loop_lag_seconds_sum") or 0.0
    return count, total


def watching() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "loop-lag" and not t.done()]


async def test_a_blocked_loop_shows_as_lag_while_calls_are_up():
    count, total = lag_observed()
    metrics.call_started(9101)
    metrics.call_started(9102)
    assert len(watching()) == 1  # one watch per loop, however many calls
    await asyncio.sleep(0.25)
    time.sleep(0.3)  # noqa: ASYNC251 - something holds the loop: every call on it waits as long
    await asyncio.sleep(0.15)
    later_count, later_total = lag_observed()
    assert later_count >= count + 3
    assert later_total - total >= 0.2
    metrics.call_stopped(9101)
    assert len(watching()) == 1  # a call is still up
    metrics.call_stopped(9102)
    await asyncio.sleep(0)
    assert watching() == []  # the last call ended: the watch stops


def test_no_watch_without_a_loop():
    loop_lag.watch(
        metrics.LOOP_LAG.observe
    )  # a call set up off the loop (a thread) starts nothing, and does not fail
    loop_lag.unwatch()
    assert loop_lag._watches == {}
