"""Sending the agent's audio at the pace it plays, and knowing how much the caller heard.

The carrier plays what it is sent, in order. Sending far ahead of playback makes barge-in
late (everything sent must be cleared) and hides how far playback got, so audio is sent at most
`lead` seconds ahead of the moment it will play. After each sentence a mark is sent; the
carrier echoes it when playback reaches it, which is the ground truth of what was heard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

BYTES_PER_SECOND = 8000  # mu-law, 8 kHz, one byte a sample


class TransportClosed(Exception):
    """Raised by a transport's send when the carrier's socket is gone: no send can succeed
    again. The playout stops quietly; the session ends through its normal close, once."""


@dataclass
class Utterance:
    """A sentence the agent is saying, as queued for playout."""

    text: str
    mark: str
    seconds: float = 0.0  # audio queued so far
    started_at: float | None = None  # monotonic time its first audio plays
    played: bool = False  # its mark came back


@dataclass
class _Audio:
    data: bytes
    utterance: Utterance


@dataclass
class _Mark:
    utterance: Utterance


@dataclass
class PlayoutStats:
    chunks_sent: int = 0
    late_chunks: int = 0  # a chunk sent after the audio before it had finished playing
    seconds_sent: float = 0.0


@dataclass
class Playout:
    send_audio: Callable[[bytes], Awaitable[None]]
    send_mark: Callable[[str], Awaitable[None]]
    send_clear: Callable[[], Awaitable[None]]
    lead: float = 0.2
    chunk_seconds: float = 0.1
    clock: Callable[[], float] = time.monotonic
    on_first_audio: Callable[[Utterance, float], None] | None = None
    on_chunk: Callable[[bytes, float], None] | None = None  # (audio, when it plays): recording
    mark_grace: float = 2.0

    stats: PlayoutStats = field(default_factory=PlayoutStats)
    closed: bool = False  # the carrier's socket is gone; nothing more will be sent
    _queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    _play_end: float = 0.0  # when the audio sent so far finishes playing
    _pending: list[Utterance] = field(default_factory=list)  # marks sent, not yet echoed
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    # -- producer side
    def add(self, utterance: Utterance, audio: bytes) -> None:
        if audio:
            utterance.seconds += len(audio) / BYTES_PER_SECOND
            self._queue.put_nowait(_Audio(audio, utterance))

    def end_utterance(self, utterance: Utterance) -> None:
        self._queue.put_nowait(_Mark(utterance))

    # -- state
    @property
    def busy(self) -> bool:
        """Audio is queued, or sent and still playing (its mark not yet back)."""
        self._expire_lost_marks()
        if self.closed:
            return False
        return not self._queue.empty() or bool(self._pending) or self._play_end > self.clock()

    def _expire_lost_marks(self) -> None:
        # A mark that has not come back well after its audio must have played is taken as
        # played: a lost mark must not leave the agent "speaking" forever.
        if self._pending and self.clock() > self._play_end + self.mark_grace:
            for utterance in self._pending:
                utterance.played = True
            self._pending.clear()

    def mark_played(self, name: str) -> Utterance | None:
        for i, utterance in enumerate(self._pending):
            if utterance.mark == name:
                # Marks come back in order: the ones before it have played too.
                for done in self._pending[: i + 1]:
                    done.played = True
                del self._pending[: i + 1]
                self._wake.set()
                return utterance
        return None

    async def drained(self) -> None:
        """Wait until everything queued has been played (every mark echoed)."""
        while self.busy:
            self._wake.clear()
            if not self._pending and self._queue.empty():
                await asyncio.sleep(max(0.0, self._play_end - self.clock()) + 0.01)
                continue
            try:
                async with asyncio.timeout(0.25):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def clear(self) -> list[Utterance]:
        """Barge-in: drop what is queued, tell the carrier to drop what it buffered. Returns
        the utterances cut short (unplayed or partly played), oldest first."""
        cut: list[Utterance] = list(self._pending)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.utterance not in cut and not item.utterance.played:
                cut.append(item.utterance)
        self._pending.clear()
        try:
            await self.send_clear()
        except TransportClosed:
            pass  # nothing is playing at a carrier that is gone
        self._play_end = self.clock()
        self._wake.set()
        return cut

    def heard_seconds(self, utterance: Utterance, now: float | None = None) -> float:
        """How much of `utterance` had played by `now` (by the play clock)."""
        if utterance.played:
            return utterance.seconds
        if utterance.started_at is None:
            return 0.0
        now = self.clock() if now is None else now
        return max(0.0, min(utterance.seconds, now - utterance.started_at))

    # -- the task
    async def run(self) -> None:
        """Send what is queued, paced, until cancelled or the carrier is gone."""
        try:
            await self._run()
        except TransportClosed:
            self.closed = True
            self._wake.set()

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Mark):
                self._pending.append(item.utterance)
                await self.send_mark(item.utterance.mark)
                continue
            await self._play(item)

    async def _play(self, item: _Audio) -> None:
        data = item.data
        chunk_bytes = max(160, int(self.chunk_seconds * BYTES_PER_SECOND) // 160 * 160)
        while data:
            now = self.clock()
            if self._play_end < now:
                if item.utterance.started_at is not None and self._play_end > 0:
                    self.stats.late_chunks += 1  # playback ran dry inside a sentence
                self._play_end = now
            ahead = self._play_end - now
            if ahead > self.lead:
                await asyncio.sleep(ahead - self.lead)
                continue
            chunk, data = data[:chunk_bytes], data[chunk_bytes:]
            if item.utterance.started_at is None:
                item.utterance.started_at = self._play_end
                if self.on_first_audio is not None:
                    self.on_first_audio(item.utterance, now)
            await self.send_audio(chunk)
            if self.on_chunk is not None:
                self.on_chunk(chunk, self._play_end)
            seconds = len(chunk) / BYTES_PER_SECOND
            self._play_end += seconds
            self.stats.chunks_sent += 1
            self.stats.seconds_sent += seconds


def heard_text(text: str, fraction: float) -> str:
    """The words of `text` a listener heard when `fraction` of its audio had played."""
    if fraction >= 0.999:
        return text
    words = text.split()
    return " ".join(words[: int(len(words) * max(0.0, fraction))])
