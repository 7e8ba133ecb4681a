"""Waiting for the agent's audio to drain ends when the playout stops: a call that closes with an
answer still queued must not leave its answer's task waiting (found with 200 calls on one
process: the close waited for that task for ever, and the call never ended)."""

from __future__ import annotations

import asyncio

from calls.engine.playout import Playout, Utterance


def queued_playout() -> tuple[Playout, asyncio.Task]:
    async def send(*args) -> None:
        pass

    playout = Playout(send, send, send, lead=0.2)
    task = asyncio.create_task(playout.run())
    utterance = Utterance("A long answer.", mark="m1")
    playout.add(utterance, b"\xff" * 8000 * 5)  # 5 s of audio, sent 0.2 s ahead of playing
    playout.end_utterance(utterance)
    return playout, task


async def test_waiting_for_the_audio_to_drain_ends_when_the_playout_is_cancelled():
    playout, task = queued_playout()
    waiter = asyncio.create_task(playout.drained())
    await asyncio.sleep(0.1)
    assert playout.busy and not waiter.done()
    task.cancel()  # the call closes: the playout stops with most of the audio still queued
    async with asyncio.timeout(2):
        await waiter
    assert playout.stopped


async def test_a_waiter_cancelled_while_the_audio_drains_ends_at_once():
    playout, task = queued_playout()
    waiter = asyncio.create_task(playout.drained())
    for delay in (0.05, 0.25, 0.25):  # before, and as, its periodic wake-up falls due
        await asyncio.sleep(delay)
    waiter.cancel()
    async with asyncio.timeout(1):
        await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
