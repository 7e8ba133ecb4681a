"""Writing what happens on a call, off the audio path.

The session hands records to the recorder, which queues them; one writer task saves them in
batches through the ORM in a worker thread. The audio loop never waits for the database, and a
database that stops answering for a while delays the records, it does not lose them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from calls.actions import finish_call
from calls.audio import pcm16_to_wav, ulaw_decode
from calls.models import Call, CallEvent, CallStatus, Turn
from monitoring import metrics
from voiceapp.db_threads import in_database_thread

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
Op = Callable[[], object]


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
    """Queues a call's records and writes them in order, in batches, off the audio path.

    A database hiccup (a lock, a restart, an exhausted pool) does not lose them: the writer
    keeps the queue and retries with backoff for RECORDER_GIVE_UP_SECONDS after the last
    success. Memory is bounded: past RECORDER_MAX_PENDING queued records, new ones are dropped
    (and counted) except the "ended" event. A record the database refuses for good (bad data)
    is skipped alone. What could not be written is logged with the call's id and count, and the
    call is finalized with the outcome "records_lost", never silently "completed".
    """

    def __init__(
        self,
        call_id: int,
        *,
        max_pending: int | None = None,
        give_up_after: float | None = None,
    ) -> None:
        self.call_id = call_id
        self.max_pending = max_pending or settings.RECORDER_MAX_PENDING
        self.give_up_after = (
            give_up_after if give_up_after is not None else settings.RECORDER_GIVE_UP_SECONDS
        )
        self.lost = 0  # records that will never be written
        self._pending: deque[Op] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._gave_up = False
        self._next_index = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name=f"recorder-{self.call_id}")

    @property
    def pending(self) -> int:
        return len(self._pending)

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
        metrics.turn_saved(call_id, record.speaker, values["timings"], record.latency_ms)
        self._put(lambda: _save_turn(call_id, index, values))

    def event(self, kind: str, **data) -> None:
        at, call_id = timezone.now(), self.call_id
        metrics.call_event(kind, data)
        self._put(
            lambda: CallEvent.objects.create(call_id=call_id, kind=kind, at=at, data=data),
            # "ended" is what tells a reader the record is complete: it is never the one dropped.
            essential=kind == CallEvent.Kind.ENDED,
        )

    def call_update(self, **fields) -> None:
        call_id = self.call_id
        self._put(
            lambda: Call.objects.filter(pk=call_id).update(**fields, updated_at=timezone.now())
        )

    def _put(self, op: Op, *, essential: bool = False) -> None:
        if self._gave_up:
            self.lost += 1
            return
        if len(self._pending) >= self.max_pending and not essential:
            if not self.lost:
                log.warning(
                    "call records queue full (the database is not keeping up): dropping new "
                    "records of call %s",
                    self.call_id,
                    extra={"call_id": self.call_id, "pending": len(self._pending)},
                )
            self.lost += 1
            return
        self._pending.append(op)
        self._wake.set()

    # -- the writer
    async def _writer(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(itertools.islice(self._pending, BATCH_MAX))
            if not await self._write(batch):
                self._give_up()
                return
            for _ in batch:
                self._pending.popleft()

    async def _write(self, batch: list[Op]) -> bool:
        """Write `batch` in one transaction, retrying transient errors; False when giving up.
        A batch the database refuses for good is written one record at a time, so only the
        bad record is skipped."""
        try:
            return await _retrying(_run_batch, batch, give_up_after=self.give_up_after)
        except DatabaseError:
            if len(batch) > 1:
                for op in batch:
                    if not await self._write([op]):
                        return False
                return True
            log.exception("a call record was refused and skipped", extra={"call_id": self.call_id})
            self.lost += 1
            return True

    def _give_up(self) -> None:
        self._gave_up = True
        self.lost += len(self._pending)
        self._pending.clear()
        log.error(
            "call %s: the database did not take its records for %s s; %s records lost",
            self.call_id,
            self.give_up_after,
            self.lost,
            extra={"call_id": self.call_id, "records_lost": self.lost},
        )

    async def close(self, *, outcome: str, audio: CallAudio | None) -> None:
        """Write every record, save the recording, and give the call its final status (only
        once its records are written; with the outcome "records_lost" when some were not)."""
        self._closing = True
        self._wake.set()
        metrics.call_stopped(self.call_id)
        if self._task is not None:
            await self._task
        metrics.records_lost(self.lost)
        wav = (
            await asyncio.to_thread(audio.wav)
            if audio is not None and (audio.caller or audio.agent)
            else None
        )
        recording = await asyncio.to_thread(_store_recording, self.call_id, wav) if wav else ""
        finished = False
        try:
            finished = await _retrying(
                _finish_call,
                self.call_id,
                outcome,
                recording,
                self.lost,
                # After giving up on the records, one try: the database is likely still away.
                give_up_after=0 if self._gave_up else self.give_up_after,
            )
        except DatabaseError:
            log.exception("call %s could not be finalized", self.call_id)
        if not finished:
            log.error(
                "call %s left unfinished (the database is away); the reaper will finalize it",
                self.call_id,
                extra={"call_id": self.call_id},
            )


# Errors that may pass: a lock or statement timeout, a dropped connection, an exhausted pool.
TRANSIENT = (OperationalError, InterfaceError)
BATCH_MAX = 200
RETRY_FIRST, RETRY_MAX = 0.25, 5.0


async def _retrying(func: Callable[..., object], *args, give_up_after: float) -> bool:
    """Run `func(*args)` in a database thread until it succeeds (True) or transient errors
    have lasted `give_up_after` seconds (False). Other database errors are raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    delay = RETRY_FIRST
    attempt = 0
    while True:
        attempt += 1
        try:
            # On PostgreSQL on the records threads (voiceapp.db_threads): each call's writer
            # still writes its batches in order, but calls' round trips overlap instead of
            # queueing behind the process's one database thread (where 200 calls ending at
            # once waited tens of seconds for their final status). SQLite: the one thread.
            await in_database_thread(func, "records")(*args)
            return True
        except TRANSIENT as error:
            left = deadline - loop.time()
            if left <= 0:
                return False
            log.warning(
                "database write failed (%s), retrying in %.2f s",
                str(error).strip()[:200],
                min(delay, left),
                extra={"attempt": attempt},
            )
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, RETRY_MAX)


def _run_batch(ops: list[Op]) -> None:
    with transaction.atomic():
        timeout = settings.RECORDER_STATEMENT_TIMEOUT_MS
        if timeout and connection.vendor == "postgresql":
            # Every call's writes share a few database threads: a lock must not hold one (and
            # a pooled connection) for long. The batch fails and is retried.
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout)])
        for op in ops:
            op()


def _save_turn(call_id: int, index: int, values: dict) -> None:
    """Insert the turn, or update it when it was saved before (a reply cut short after it was
    written): one INSERT ... ON CONFLICT statement, where update_or_create took five (a
    savepoint, a SELECT ... FOR UPDATE, the INSERT, and their ends) for every turn of 200
    calls."""
    Turn.objects.bulk_create(
        [Turn(call_id=call_id, index=index, **values)],
        update_conflicts=True,
        unique_fields=["call", "index"],
        update_fields=list(values),
    )


def _store_recording(call_id: int, wav: bytes) -> str:
    field = Call._meta.get_field("recording")
    return field.storage.save(
        field.generate_filename(None, f"call-{call_id}.wav"), ContentFile(wav)
    )


def _finish_call(call_id: int, outcome: str, recording: str, lost: int) -> None:
    if lost:
        data = {"records_lost": lost, "outcome": outcome}
        CallEvent.objects.create(call_id=call_id, kind=CallEvent.Kind.ERROR, data=data)
        outcome = "records_lost"
    if recording:
        Call.objects.filter(pk=call_id).update(recording=recording, updated_at=timezone.now())
    # The stream is over, so the call is too; Twilio's own callback may confirm it later
    # (apply_status never moves a call backwards, so the order does not matter). The session
    # wrote its own "ended" event through this recorder. A process that dies before this
    # leaves the call to the reaper, which ends it the same way.
    finish_call(
        call_id,
        status=CallStatus.COMPLETED,
        outcome=outcome,
        source="media stream ended",
        ended_event=False,
    )
