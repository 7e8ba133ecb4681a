"""A cancellation a client turned into an error (or swallowed and retried past) is given back
(calls.cancellation), in the phrase cache where it hid; and a call's close never waits on a
task that did not stop when cancelled (calls.engine.tasks)."""

from __future__ import annotations

import asyncio

import pytest

from calls.cancellation import keep_cancellation
from calls.engine.tasks import CallTasks
from calls.providers.phrase_cache import CachedTTS, MemoryStore
from calls.tests.test_phrase_cache import CountingTTS


class ErringClient:
    """A client call that, cancelled mid-request, raises its own error (as redis-py raises
    TimeoutError), or with `retry` tries again and succeeds (as redis-py's Retry does)."""

    def __init__(self, *, retry: bool = False) -> None:
        self.retry, self.started = retry, asyncio.Event()

    async def request(self) -> str:
        self.started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if self.retry:
                return "retried"
            raise TimeoutError("Timeout reading from server") from None
        return "answered"


async def harmless(client: ErringClient) -> str:
    """The caller's pattern: any failure of this client is harmless."""
    try:
        with keep_cancellation():
            return await client.request()
    except Exception:
        return "failed, carried on"


@pytest.mark.parametrize("retry", [False, True], ids=["error", "retried"])
async def test_a_cancellation_the_client_turned_into_an_error_stays_a_cancellation(retry):
    client = ErringClient(retry=retry)
    task = asyncio.create_task(harmless(client))
    await client.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_error_without_a_cancellation_is_the_error():
    async def fails():
        with keep_cancellation():
            await asyncio.sleep(0)
            raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        await fails()


async def test_a_timeout_inside_is_a_timeout_not_a_cancellation():
    async def slow():
        with keep_cancellation():
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        await slow()
    assert asyncio.current_task().cancelling() == 0


class SwallowingStore(MemoryStore):
    """A phrase store whose write, cancelled, retries and succeeds (the Redis store under load:
    a write that timed out as the call's answer was cut off)."""

    def __init__(self) -> None:
        super().__init__(1_000_000)
        self.writing = asyncio.Event()

    async def put(self, key: str, audio: bytes) -> None:
        self.writing.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass  # retried, and stored
        await super().put(key, audio)


async def test_an_answer_cut_off_while_its_sentence_is_stored_stops():
    store = SwallowingStore()
    tts = CachedTTS(CountingTTS(), store)
    said: list[str] = []

    async def speak() -> None:  # the responder's loop: sentence after sentence
        for sentence in ("Sure.", "Anything else?"):
            async for _ in tts.synthesize(sentence):
                pass
            said.append(sentence)

    task = asyncio.create_task(speak())
    await store.writing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert said == []


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def event(self, kind: str, **data) -> None:
        self.events.append((kind, data))


async def test_a_task_that_ignores_its_cancellation_does_not_hold_the_call_open(caplog):
    let_go = asyncio.Event()

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if let_go.is_set():
                    raise  # only for the test's own clean-up; a swallowed cancellation until then

    recorder = _Recorder()
    tasks = CallTasks(7, recorder, on_failure=lambda: None)
    task = tasks.spawn(stubborn(), "stubborn")
    tasks.spawn(asyncio.sleep(10), "polite")
    await asyncio.sleep(0)
    await asyncio.wait_for(tasks.cancel_all(patience=0.1), 2)
    assert ("error", {"task": "call-7-stubborn", "error": "did not stop when cancelled"}) in (
        recorder.events
    )
    assert "call-7-stubborn did not stop when cancelled" in caplog.text
    let_go.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
