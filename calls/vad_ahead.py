"""A call's voice activity detector, built while the call already runs.

A detector needs a Silero model: free when the process's pool has an idle one, ~90 ms of CPU
when it has none (calls.vad). In a burst of new calls those loads queue behind each other in
the worker threads, and a call that waited for its detector before starting waited that long
for its greeting too, though nobody needs to hear the caller before the greeting plays.
`DetectorWhenReady` lets the call start at once: it stands in for the detector while it is
built, keeps the audio fed meanwhile, and feeds it to the detector the moment it is ready.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from calls.vad import VadEvent

log = logging.getLogger(__name__)

MAX_PENDING_FRAMES = 50 * 30  # 30 s of 20 ms frames kept while the detector is built


class DetectorWhenReady:
    """A detector (`build()`, run in a worker thread) that takes audio before it exists.

    Frames fed before it is built are kept, then fed to it in order with the first frame after;
    the events that catch-up completes are handed out one per frame, in order, each with its
    own stream time, so none is lost. Until then the caller counts as silent. A detector that
    could not be built raises its error at the next frame, as a failing detector would.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._detector: Any = None
        self._error: BaseException | None = None
        self._pending: deque[bytes] = deque(maxlen=MAX_PENDING_FRAMES)
        self._events: deque[VadEvent] = deque()
        self._closed = False
        self._future = asyncio.get_running_loop().run_in_executor(None, build)
        self._future.add_done_callback(self._built)

    def _built(self, future: asyncio.Future) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("the call's voice activity detector could not be built: %r", error)
            self._error = error
            return
        detector = future.result()
        if self._closed:
            detector.close()
        else:
            self._detector = detector

    @property
    def ready(self) -> bool:
        return self._detector is not None

    async def wait_ready(self) -> None:
        """Until the detector is built (or failed to be)."""
        await asyncio.wait({self._future})

    def feed(self, pcm16: bytes) -> VadEvent | None:
        if self._detector is None:
            if self._error is not None:
                raise self._error
            self._pending.append(pcm16)
            return None
        while self._pending:
            event = self._detector.feed(self._pending.popleft())
            if event is not None:
                self._events.append(event)
        event = self._detector.feed(pcm16)
        if event is not None:
            self._events.append(event)
        return self._events.popleft() if self._events else None

    @property
    def speaking(self) -> bool:
        return self._detector is not None and self._detector.speaking

    @property
    def maybe_speaking(self) -> bool:
        return self._detector is not None and self._detector.maybe_speaking

    def close(self) -> None:
        self._closed = True
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __getattr__(self, name: str) -> Any:
        detector = self.__dict__.get("_detector")
        if detector is None:
            raise AttributeError(f"{name} (the detector is not built yet)")
        return getattr(detector, name)
