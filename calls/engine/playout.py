"""Sending the agent's audio at the pace it plays, and knowing how much the caller heard.

The carrier plays what it is sent, in order. Sending far ahead of playback makes barge-in
late (everything sent must be cleared) and hides how far playback got, so audio is sent at most
`lead` seconds ahead of the moment it will play. After each sentence a mark is sent; the
carrier echoes it when playback reaches it, which is the ground truth of what was heard.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
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
    offset: float = 0.0  # seconds of it heard before a pause held the rest back


@dataclass
class _Audio:
    data: bytes
    utterance: Utterance


@dataclass
class _Mark:
    utterance: Utterance


@dataclass
class _Sent:
    """A chunk handed to the carrier, and when it plays."""

    start: float
    end: float
    data: bytes
    utterance: Utterance


@dataclass
class PlayoutStats:
    chunks_sent: int = 0
    late_chunks: int = 0  # a chunk sent after the audio before it had finished playing
    seconds_sent: float = 0.0


@dataclass
class Playout:
    """Owns the agent's audio on its way to the carrier: paced sending, marks, pause and
    resume, clearing, and how much of each sentence has played."""

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
    stopped: bool = False  # the task sending the audio has ended (closed, or cancelled)
    paused: bool = False  # held back while the caller may be interrupting (see pause())
    _items: deque = field(default_factory=deque)  # _Audio and _Mark to send, in order
    _has_items: asyncio.Event = field(default_factory=asyncio.Event)
    _resumed: asyncio.Event = field(default_factory=asyncio.Event)
    _play_end: float = 0.0  # when the audio sent so far finishes playing
    _pending: list[Utterance] = field(default_factory=list)  # marks sent, not yet echoed
    _sent: deque = field(default_factory=deque)  # _Sent and _Mark not yet played, in order
    _current: _Audio | None = None  # the item being sent, and how far
    _current_offset: int = 0
    _generation: int = 0  # bumped by pause() and clear(): the item being sent is dropped
    _holds: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._resumed.set()

    # -- producer side
    def add(self, utterance: Utterance, audio: bytes) -> None:
        if audio:
            utterance.seconds += len(audio) / BYTES_PER_SECOND
            self._put(_Audio(audio, utterance))

    def end_utterance(self, utterance: Utterance) -> None:
        self._put(_Mark(utterance))

    def _put(self, item: _Audio | _Mark) -> None:
        self._items.append(item)
        self._has_items.set()

    # -- state
    @property
    def busy(self) -> bool:
        """Audio is queued, or sent and still playing (its mark not yet back)."""
        self._expire_lost_marks()
        if self.closed:
            return False
        return (
            self.paused
            or bool(self._items)
            or self._current is not None
            or bool(self._pending)
            or self._play_end > self.clock()
        )

    @property
    def speaking(self) -> bool:
        """Audio is playing or waiting to be sent (not only marks awaiting their echo)."""
        if self.closed:
            return False
        return (
            self._play_end > self.clock() + 0.02
            or self._current is not None
            or any(isinstance(item, _Audio) for item in self._items)
        )

    @property
    def play_end(self) -> float:
        """When the audio sent so far finishes playing (by the play clock)."""
        return self._play_end

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
        """Wait until everything queued has been played (every mark echoed), or the playout
        has stopped (its task ended: nothing queued will be sent any more)."""
        loop = asyncio.get_running_loop()
        while self.busy and not self.stopped:
            self._wake.clear()
            if not self._pending and not self._items and not self.paused:
                await asyncio.sleep(max(0.0, self._play_end - self.clock()) + 0.01)
                continue
            # Not asyncio.timeout: on Python 3.11, a cancellation that lands as its deadline
            # passes is swallowed, and the cancelled waiter loops on.
            wake_up = loop.call_later(0.25, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                wake_up.cancel()

    async def clear(self) -> list[Utterance]:
        """Barge-in: drop what is queued, tell the carrier to drop what it buffered. Returns
        the utterances cut short (unplayed or partly played), oldest first."""
        cut: list[Utterance] = list(self._pending)
        if self._current is not None and self._current.utterance not in cut:
            cut.append(self._current.utterance)
        for item in self._items:
            if item.utterance not in cut and not item.utterance.played:
                cut.append(item.utterance)
        self._items.clear()
        self._drop_in_flight()
        self._pending.clear()
        self.paused = False
        self._resumed.set()
        await self._send_clear()
        self._play_end = self.clock()
        self._wake.set()
        return cut

    async def pause(self) -> bool:
        """The caller may be interrupting: stop the audio now (the carrier drops what it
        buffered), but keep what was not heard, to resume() from where playback stopped if it
        was only a "mhm". Returns whether anything is held back."""
        now = self.clock()
        held: list[_Audio | _Mark] = []
        for entry in self._sent:
            if isinstance(entry, _Sent):
                if entry.end > now:
                    skip = max(0, int((now - entry.start) * BYTES_PER_SECOND))
                    held.append(_Audio(entry.data[skip:], entry.utterance))
            elif not entry.utterance.played:
                held.append(entry)
        if self._current is not None and self._current_offset < len(self._current.data):
            held.append(_Audio(self._current.data[self._current_offset :], self._current.utterance))
        self._drop_in_flight()
        self._holds += 1
        utterances: list[Utterance] = []
        for item in held:
            if not any(item.utterance is u for u in utterances):
                utterances.append(item.utterance)
        for utterance in utterances:
            # Heard so far, for the transcript; a new mark name, since the carrier echoes the
            # cleared marks and those must not count for the audio sent again.
            utterance.offset = self.heard_seconds(utterance, now)
            utterance.started_at = None
            utterance.mark = f"{utterance.mark.split('~')[0]}~{self._holds}"
        self._pending = [u for u in self._pending if u.played]
        self._items.extendleft(reversed(held))
        self.paused = True
        self._resumed.clear()
        await self._send_clear()
        self._play_end = self.clock()
        self._wake.set()
        return bool(held) or bool(self._items)

    def resume(self) -> None:
        """It was not an interruption: go on from where playback stopped."""
        self.paused = False
        self._resumed.set()
        self._has_items.set()

    def _drop_in_flight(self) -> None:
        self._generation += 1
        self._current = None
        self._sent.clear()

    async def _send_clear(self) -> None:
        try:
            await self.send_clear()
        except TransportClosed:
            pass  # nothing is playing at a carrier that is gone

    def heard_seconds(self, utterance: Utterance, now: float | None = None) -> float:
        """How much of `utterance` had played by `now` (by the play clock)."""
        if utterance.played:
            return utterance.seconds
        if utterance.started_at is None:
            return utterance.offset
        now = self.clock() if now is None else now
        return max(0.0, min(utterance.seconds, now - utterance.started_at))

    # -- the task
    async def run(self) -> None:
        """Send what is queued, paced, until cancelled or the carrier is gone."""
        try:
            await self._run()
        except TransportClosed:
            self.closed = True
        finally:
            # Nothing more will be sent: whoever waits for the audio to drain stops waiting
            # (a call closing cancels this task with audio still queued).
            self.stopped = True
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._resumed.wait()
            if not self._items:
                self._has_items.clear()
                await self._has_items.wait()
                continue
            item = self._items.popleft()
            if isinstance(item, _Mark):
                self._pending.append(item.utterance)
                self._sent.append(item)
                await self.send_mark(item.utterance.mark)
                continue
            await self._play(item)

    async def _play(self, item: _Audio) -> None:
        generation = self._generation
        self._current, self._current_offset = item, 0
        data = item.data
        chunk_bytes = max(160, int(self.chunk_seconds * BYTES_PER_SECOND) // 160 * 160)
        while self._current_offset < len(data):
            if generation != self._generation:
                return  # paused or cleared: what was not sent is held back or dropped
            now = self.clock()
            if self._play_end < now:
                if item.utterance.started_at is not None and self._play_end > 0:
                    self.stats.late_chunks += 1  # playback ran dry inside a sentence
                self._play_end = now
            ahead = self._play_end - now
            if ahead > self.lead:
                await asyncio.sleep(ahead - self.lead)
                continue
            chunk = data[self._current_offset : self._current_offset + chunk_bytes]
            self._current_offset += len(chunk)
            if item.utterance.started_at is None:
                item.utterance.started_at = self._play_end - item.utterance.offset
                if self.on_first_audio is not None:
                    self.on_first_audio(item.utterance, now)
            seconds = len(chunk) / BYTES_PER_SECOND
            start = self._play_end
            self._forget_played(now)
            self._sent.append(_Sent(start, start + seconds, chunk, item.utterance))
            self._play_end += seconds
            await self.send_audio(chunk)
            if self.on_chunk is not None:
                self.on_chunk(chunk, start)
            self.stats.chunks_sent += 1
            self.stats.seconds_sent += seconds
        if generation == self._generation:
            self._current = None

    def _forget_played(self, now: float) -> None:
        while self._sent:
            first = self._sent[0]
            if isinstance(first, _Sent) and first.end <= now:
                self._sent.popleft()
            elif isinstance(first, _Mark) and first.utterance.played:
                self._sent.popleft()
            else:
                return


def heard_text(text: str, fraction: float) -> str:
    """The words of `text` a listener heard when `fraction` of its audio had played."""
    if fraction >= 0.999:
        return text
    words = text.split()
    return " ".join(words[: int(len(words) * max(0.0, fraction))])
