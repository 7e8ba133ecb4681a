"""One Twilio media stream: it checks the start message, opens the call's conversation, and
carries audio, marks and digits between the wire and the session."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError

from calls.admission import LinesBusy
from calls.engine.session import CallSession, TransportClosed
from calls.live import StreamClaim, StreamRefused, open_call
from telephony import stream_token
from telephony.jobs import request_hang_up, request_lines_busy
from telephony.media_protocol import (
    Connected,
    Dtmf,
    InboundEvent,
    Mark,
    Media,
    Start,
    Stop,
    encode_clear,
    encode_mark,
    encode_media,
)
from voiceapp.socket_errors import SOCKET_CLOSED

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int], Awaitable[None]]
OnCall = Callable[[int], Awaitable[None]]

REFUSED = 4403  # close code for a stream we will not serve
NO_START = 4408  # close code for a socket that never said which call it carries
# A stream refused for want of room waits this long for Twilio to take the call over with the
# busy message (a REST request from a job: well under a second when all is well).
BUSY_CLOSE_SECONDS = 10
# How long a stream's start keeps trying while the database is unavailable. An overloaded
# process can keep every pooled connection busy past DATABASE_TIMEOUT for a moment; the call
# is answered and its caller on the line, so its start waits rather than fails (and leaves
# the call to the reaper).
START_PATIENCE_SECONDS = 8.0

T = TypeVar("T")


async def patiently(step: Callable[..., Awaitable[T]], *args) -> T:
    """`await step(*args)`, tried again with backoff while the database is unavailable, for up
    to START_PATIENCE_SECONDS. A pool timeout fails before the step's first query, so a step
    is not run twice; a connection lost after a claim's UPDATE leaves that stream refused."""
    deadline = time.monotonic() + START_PATIENCE_SECONDS
    delay = 0.1
    while True:
        try:
            return await step(*args)
        except (OperationalError, InterfaceError) as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "media stream: database unavailable, trying again (%s)", str(error).strip()[:200]
            )
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


def _raising_transport_closed(send: Send) -> Send:
    """Daphne and uvicorn refuse a send once the socket is closing: the session's signal that
    the carrier is gone, so it ends through its normal close instead of a traceback per send."""

    async def checked(text: str) -> None:
        try:
            await send(text)
        except SOCKET_CLOSED as exc:
            raise TransportClosed(str(exc) or "the socket is closed") from exc

    return checked


class TwilioMediaStream:
    """Implements the session's CallTransport over the consumer's socket."""

    def __init__(
        self,
        send: Send,
        close: Close,
        signers: set[str],
        *,
        on_call: OnCall | None = None,
        **session_options,
    ) -> None:
        self._send = _raising_transport_closed(send)
        self._close = close
        self._on_call = on_call  # told the call's id once the stream holds it (its group)
        self._controls: list[tuple[str, dict]] = []  # arrived before the session existed
        self.signers = signers
        self.session_options = session_options
        self.stream_sid = ""
        self.call_id: int | None = None
        self.session: CallSession | None = None
        self.refused = False
        self.start_seen = False
        self._start_deadline: asyncio.Task | None = None
        self._busy_deadline: asyncio.Task | None = None
        self._closed = False

    def expect_start(self, seconds: float) -> None:
        """Close the socket unless a start message comes within `seconds`."""
        self._start_deadline = asyncio.create_task(
            self._close_unless_started(seconds), name="media-stream-start-deadline"
        )

    async def _close_unless_started(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self.start_seen and not self._closed:
            log.warning("media stream closed: no start message within %s s", seconds)
            await self._close(NO_START)

    # -- wire → session
    async def handle(self, event: InboundEvent) -> None:
        if self._closed:
            return  # ended (after a failure): what the socket still had queued is moot
        if isinstance(event, Start):
            await self._start(event)
        elif isinstance(event, Connected):
            return
        elif self.refused:
            if isinstance(event, Stop):  # the busy message took the call over (say_lines_busy)
                await self._close(1000)
        elif self.session is None:
            log.warning(
                "media stream message before start, skipped", extra={"event": type(event).__name__}
            )
        elif isinstance(event, Media):
            if event.track in ("inbound", "inbound_track") and event.payload:
                await self.session.on_audio(event.payload)
        elif isinstance(event, Mark):
            await self.session.on_mark(event.name)
        elif isinstance(event, Dtmf):
            await self.session.on_dtmf(event.digit)
        elif isinstance(event, Stop):
            await self.end("caller_hung_up")
            await self._close(1000)

    async def _start(self, start: Start) -> None:
        self.start_seen = True
        if self.session is not None or self.refused:
            log.warning(
                "second start on a media stream, skipped", extra={"stream_sid": start.stream_sid}
            )
            return
        grant, reason = self._refusal(start)
        if grant is None:
            await self._refuse(reason, start)
            return
        self.call_id = grant.call_id
        self.stream_sid = start.stream_sid
        if self._on_call is not None:
            # Joined before the call is read: a verdict that comes after the read reaches the
            # session through the group, one that came before is read with the call.
            await self._on_call(self.call_id)
        try:
            session = await patiently(self._open_call, start, grant)
        except LinesBusy:
            await self._lines_busy()
            return
        except StreamRefused as refused:
            await self._refuse(str(refused), start)
            return
        if session is None:
            self.refused = True
            await self._close(REFUSED)
            return
        self.session = session
        await session.start()
        while self._controls:
            action, data = self._controls.pop(0)
            await session.control(action, **data)

    async def _open_call(self, start: Start, grant: stream_token.StreamGrant) -> CallSession | None:
        return await open_call(
            self.call_id,
            self,
            stream_sid=start.stream_sid,
            claim=StreamClaim(start.call_sid, grant.account_sid),
            pending=self._controls,
            **self.session_options,
        )

    async def _lines_busy(self) -> None:
        """This process is full (the call is ended as such): Twilio is asked to say "all our
        lines are busy" instead, which stops this stream. Closing it first would hang up on
        the caller without a word, so it stays open until then, or BUSY_CLOSE_SECONDS."""
        self.refused = True
        await database_sync_to_async(request_lines_busy)(self.call_id)
        self._busy_deadline = asyncio.create_task(
            self._close_later(BUSY_CLOSE_SECONDS), name="media-stream-busy-deadline"
        )

    async def _close_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self._closed:
            log.warning("busy message not confirmed within %s s: closing the stream", seconds)
            self._closed = True
            await self._close(1000)

    async def control(self, action: str, data: dict) -> None:
        """A command for the call from its group (calls.live.send_control)."""
        if self._closed or self.refused:
            return
        if self.session is None:
            self._controls.append((action, data))
            return
        await self.session.control(action, **data)

    def _refusal(self, start: Start) -> tuple[stream_token.StreamGrant | None, str]:
        """The stream token's grant, or None and why the stream is not served (checks that
        need no database; the call itself is checked as it is claimed, calls.live)."""
        if start.encoding != "audio/x-mulaw" or start.sample_rate != 8000 or start.channels != 1:
            return None, (
                f"unsupported media format {start.encoding}/{start.sample_rate}/{start.channels}"
            )
        token = start.custom_parameters.get("token", "")
        if not token:
            return None, "no stream token"
        try:
            grant = stream_token.verify(token)
        except stream_token.InvalidStreamToken as exc:
            return None, str(exc)
        if grant.account_sid not in self.signers or grant.account_sid != start.account_sid:
            return None, "stream token and signature are for different accounts"
        return grant, ""

    async def _refuse(self, reason: str, start: Start) -> None:
        self.refused = True
        log.warning("media stream refused: %s", reason, extra={"call_sid": start.call_sid})
        await self._close(REFUSED)

    async def end(self, outcome: str) -> None:
        for deadline in (self._start_deadline, self._busy_deadline):
            if deadline is not None:
                deadline.cancel()
        if self._closed:
            return
        self._closed = True
        if self.session is not None:
            await self.session.close(outcome)

    # -- session → wire (CallTransport)
    async def send_audio(self, mulaw: bytes) -> None:
        await self._send(encode_media(self.stream_sid, mulaw))

    async def send_mark(self, name: str) -> None:
        await self._send(encode_mark(self.stream_sid, name))

    async def send_clear(self) -> None:
        await self._send(encode_clear(self.stream_sid))

    async def hang_up(self) -> None:
        """End the call at the carrier (a REST request, queued as a job), then close."""
        if self.call_id is not None:
            await database_sync_to_async(request_hang_up)(self.call_id)
        await self._close(1000)
