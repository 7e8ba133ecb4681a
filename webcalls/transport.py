"""One test call from the browser: it opens the call's conversation and carries audio, marks
and key presses between the page's socket and the session (the CallTransport the Twilio media
stream also implements). The engine cannot tell the two apart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from calls.admission import LINES_BUSY, LinesBusy
from calls.engine.session import CallSession, TransportClosed
from calls.live import open_call
from calls.models import Call, CallEvent
from voiceapp.socket_errors import SOCKET_CLOSED
from webcalls import protocol
from webcalls.feed import FeedRecorder

log = logging.getLogger(__name__)

FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz: the frame the engine's VAD expects
MAX_AUDIO_MESSAGE = 8000  # one second: a page sends 20 ms frames; more is not a microphone

SendBytes = Callable[[bytes], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int], Awaitable[None]]


def setup_refusal(call_id: int) -> str:
    """Why the call could not be connected, as its record says (a missing variable...)."""
    event = CallEvent.objects.filter(call_id=call_id, kind=CallEvent.Kind.ERROR).last()
    if event is not None and event.data.get("setup"):
        return str(event.data["setup"])
    call = Call.objects.filter(pk=call_id).only("outcome").first()
    return f"the call could not be connected ({call.outcome if call else 'gone'})"


class BrowserCall:
    """Implements the session's CallTransport over the page's socket."""

    def __init__(self, send_bytes: SendBytes, send_text: SendText, close: Close) -> None:
        self._send_bytes = send_bytes
        self._send_text = send_text
        self._close = close
        self.call_id: int | None = None
        self.session: CallSession | None = None
        self._carry = b""  # part of a 20 ms frame, until the rest comes
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._sender: asyncio.Task | None = None
        self._closed = False

    async def start(self, call_id: int, admin_url: str) -> bool:
        """Open the call's conversation and greet; False (the page told why) if it cannot."""
        self.call_id = call_id
        self._sender = asyncio.create_task(self._send_told(), name=f"webcall-{call_id}-feed")
        self.tell(protocol.encode_call(call_id, admin_url))
        try:
            session = await open_call(call_id, self, recorder=FeedRecorder(call_id, self.tell))
        except LinesBusy:
            # A test call costs this process what a phone call does, so it counts against the
            # process's cap (not against the tenant's lines: it holds no carrier line).
            self.tell(protocol.encode_ended(LINES_BUSY, "this server is at its call capacity"))
            await self._flush()
            return False
        if session is None:
            reason = await database_sync_to_async(setup_refusal)(call_id)
            self.tell(protocol.encode_ended("setup_error", reason))
            await self._flush()
            return False
        self.session = session
        await session.start()
        return True

    # -- page → session
    async def on_audio(self, data: bytes) -> None:
        if self.session is None or self._closed:
            return
        if len(data) > MAX_AUDIO_MESSAGE:
            log.warning("oversized audio message from the page, skipped", extra={"n": len(data)})
            return
        data, self._carry = self._carry + data, b""
        whole = len(data) - len(data) % FRAME_BYTES
        for start in range(0, whole, FRAME_BYTES):
            await self.session.on_audio(data[start : start + FRAME_BYTES])
        self._carry = data[whole:]

    async def on_message(self, text: str) -> None:
        """A text frame; a malformed one is logged and skipped (the call goes on)."""
        if self.session is None or self._closed:
            return
        try:
            message = protocol.decode(text)
        except protocol.ProtocolError as exc:
            log.warning("malformed message from the page, skipped: %s", exc)
            return
        if isinstance(message, protocol.MarkPlayed):
            await self.session.on_mark(message.name)
        elif isinstance(message, protocol.KeyPressed):
            await self.session.on_dtmf(message.digit)

    async def control(self, action: str, data: dict) -> None:
        """A command for the call from its group (staff hanging up from the admin)."""
        if self.session is not None and not self._closed:
            await self.session.control(action, **data)

    async def end(self, outcome: str) -> None:
        """The page is gone (or failed): end the call with `outcome`. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.session is not None:
            await self.session.close(outcome)
        if self._sender is not None:
            self._sender.cancel()

    # -- session → page (CallTransport)
    async def send_audio(self, mulaw: bytes) -> None:
        await self._send(self._send_bytes, mulaw)

    async def send_mark(self, name: str) -> None:
        await self._send(self._send_text, protocol.encode_mark(name))

    async def send_clear(self) -> None:
        await self._send(self._send_text, protocol.encode_clear())

    async def hang_up(self) -> None:
        """The agent ended the call: say so to the page, then close its socket."""
        outcome = self.session.outcome if self.session is not None else ""
        self.tell(protocol.encode_ended(outcome or "agent_ended", "the agent hung up"))
        await self._flush()
        await self._close(1000)

    # -- the feed (transcript lines and events), in order, off the audio path
    def tell(self, text: str) -> None:
        self._outbox.put_nowait(text)

    async def _send_told(self) -> None:
        while True:
            text = await self._outbox.get()
            try:
                await self._send(self._send_text, text)
            except TransportClosed:
                return
            finally:
                self._outbox.task_done()

    async def _flush(self) -> None:
        if self._sender is not None and not self._sender.done():
            try:
                async with asyncio.timeout(2):
                    await self._outbox.join()
            except TimeoutError:
                pass

    @staticmethod
    async def _send(send: Callable[[object], Awaitable[None]], payload) -> None:
        # Daphne and uvicorn refuse a send once the socket is closing: the session's signal
        # that the page is gone, so it ends through its normal close.
        try:
            await send(payload)
        except SOCKET_CLOSED as exc:
            raise TransportClosed(str(exc) or "the socket is closed") from exc
