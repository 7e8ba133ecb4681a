"""Writing what happens on a call, off the audio path.

The session hands records to the recorder, which queues them; one writer task saves them in
batches through the ORM in a worker thread. The audio loop never waits for the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from channels.db import database_sync_to_async
from django.core.files.base import ContentFile
from django.utils import timezone

from calls.audio import pcm16_to_wav, ulaw_decode
from calls.models import Call, CallEvent, CallStatus, Turn

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000


@dataclass
class TurnRecord:
    index: int
    speaker: str
    started_at: datetime
    text: str = ""
    ended_at: datetime | None = None
    interrupted: bool = False
    timings: dict[str, int] = field(default_factory=dict)
    latency_ms: int | None = None


class CallAudio:
    """Both sides of the call on one timeline, mixed into a mono WAV at the end."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.caller = bytearray()
        self.agent: list[tuple[int, bytes]] = []  # (sample offset, mu-law)

    def add_caller(self, mulaw: bytes) -> None:
        self.caller += mulaw

    def add_agent(self, mulaw: bytes, plays_at: float) -> None:
        self.agent.append((max(0, int((plays_at - self.t0) * SAMPLE_RATE)), mulaw))

    def cut_agent(self, at: float) -> None:
        """Barge-in: what was sent but cleared before it played was never heard."""
        limit = int((at - self.t0) * SAMPLE_RATE)
        kept = []
        for offset, data in self.agent:
            if offset < limit:
                kept.append((offset, data[: limit - offset]))
        self.agent = kept

    def wav(self) -> bytes:
        end = max([len(self.caller)] + [o + len(d) for o, d in self.agent])
        mix = np.zeros(end, dtype=np.int32)
        if self.caller:
            mix[: len(self.caller)] += np.frombuffer(
                ulaw_decode(bytes(self.caller)), dtype=np.int16
            )
        for offset, data in self.agent:
            if data:
                mix[offset : offset + len(data)] += np.frombuffer(ulaw_decode(data), dtype=np.int16)
        return pcm16_to_wav(np.clip(mix, -32768, 32767).astype(np.int16).tobytes(), SAMPLE_RATE)


class CallRecorder:
    def __init__(self, call_id: int) -> None:
        self.call_id = call_id
        self._queue: asyncio.Queue[Callable[[], None] | None] = asyncio.Queue()
        self._next_index = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name=f"recorder-{self.call_id}")

    # -- records (non-blocking)
    def new_turn(self, speaker: str, started_at: datetime | None = None) -> TurnRecord:
        record = TurnRecord(self._next_index, speaker, started_at or timezone.now())
        self._next_index += 1
        return record

    def save_turn(self, record: TurnRecord) -> None:
        values = {
            "speaker": record.speaker,
            "text": record.text,
            "started_at": record.started_at,
            "ended_at": record.ended_at or timezone.now(),
            "interrupted": record.interrupted,
            "timings": dict(record.timings),
            "latency_ms": record.latency_ms,
        }
        call_id, index = self.call_id, record.index
        self._put(
            lambda: Turn.objects.update_or_create(call_id=call_id, index=index, defaults=values)
        )

    def event(self, kind: str, **data) -> None:
        at, call_id = timezone.now(), self.call_id
        self._put(lambda: CallEvent.objects.create(call_id=call_id, kind=kind, at=at, data=data))

    def call_update(self, **fields) -> None:
        call_id = self.call_id
        self._put(
            lambda: Call.objects.filter(pk=call_id).update(**fields, updated_at=timezone.now())
        )

    def _put(self, op: Callable[[], None]) -> None:
        self._queue.put_nowait(op)

    # -- the writer
    async def _writer(self) -> None:
        while True:
            op = await self._queue.get()
            batch = [op]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            ops = [o for o in batch if o is not None]
            if ops:
                await database_sync_to_async(_run_batch)(ops)
            if op is None or None in batch:
                return

    async def close(self, *, outcome: str, audio: CallAudio | None) -> None:
        """Flush every record, save the recording, and give the call its final status."""
        if self._task is not None:
            self._put(None)  # type: ignore[arg-type]
            try:
                await self._task
            except Exception:
                log.exception(
                    "call records could not all be written", extra={"call_id": self.call_id}
                )
        wav = (
            await asyncio.to_thread(audio.wav)
            if audio is not None and (audio.caller or audio.agent)
            else None
        )
        await database_sync_to_async(_finish_call)(self.call_id, outcome, wav)


def _run_batch(ops: list[Callable[[], None]]) -> None:
    from django.db import transaction

    with transaction.atomic():
        for op in ops:
            op()


def _finish_call(call_id: int, outcome: str, wav: bytes | None) -> None:
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return
    fields = ["outcome", "updated_at"]
    call.outcome = call.outcome or outcome
    if wav is not None:
        call.recording.save(f"call-{call_id}.wav", ContentFile(wav), save=False)
        fields.append("recording")
    call.save(update_fields=fields)
    if not call.is_final:
        # The stream is over, so the call is too; Twilio's own callback may confirm it later
        # (apply_status never moves a call backwards, so the order does not matter).
        duration = None
        if call.answered_at:
            duration = int((timezone.now() - call.answered_at) / timedelta(seconds=1))
        call.apply_status(CallStatus.COMPLETED, source="media stream ended", duration=duration)
