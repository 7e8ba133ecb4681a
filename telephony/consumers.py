"""The media WebSocket: authenticate the handshake, decode frames, hand them on. Nothing else."""

from __future__ import annotations

import asyncio
import logging

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from calls.control import call_group
from telephony.media_protocol import ProtocolError, decode
from telephony.media_stream import REFUSED, TwilioMediaStream, patiently
from telephony.signatures import cached_stream_signers, stream_signers
from voiceapp.db_threads import in_database_thread
from voiceapp.socket_errors import SOCKET_CLOSED

log = logging.getLogger(__name__)

SERVER_ERROR = 1011  # the WebSocket close code for "the server failed"


class MediaStreamConsumer(AsyncWebsocketConsumer):
    stream: TwilioMediaStream | None = None
    group: str = ""

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop, less its cost per frame, and the call's end guaranteed.

        Channels makes a task and an `asyncio.wait` for every message; here the socket's
        messages are awaited straight from Daphne's queue and the group's in a task of their
        own, still handled one at a time. However the consumer stops, the call ends with it:
        Daphne cancels a consumer that has not finished APPLICATION_CLOSE_TIMEOUT_SECONDS
        after its socket closed (an overloaded process, frames still queued before the
        disconnect), and sends to a closed socket are dropped without an error, so a session
        left behind would live on, beating, with nobody on the line.
        """
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self._one_at_a_time = asyncio.Lock()
        group_messages: asyncio.Task | None = None
        try:
            if self.channel_layer is not None:
                self.channel_name = await self.channel_layer.new_channel()
                group_messages = asyncio.create_task(self._group_messages())
            while True:
                message = await receive()
                async with self._one_at_a_time:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            if group_messages is not None:
                group_messages.cancel()
            if self.stream is not None:
                # Its own task: a second cancellation does not stop the records being written.
                await asyncio.shield(asyncio.ensure_future(self.stream.end("caller_hung_up")))

    async def _group_messages(self) -> None:
        try:
            while True:
                message = await self.channel_layer.receive(self.channel_name)
                async with self._one_at_a_time:
                    await self.dispatch(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # the call goes on; only commands from outside no longer reach it
            log.exception("the media stream's group messages stopped")

    async def connect(self) -> None:
        headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in self.scope["headers"]}
        signed = (
            self.scope["path"],
            self.scope.get("query_string", b"").decode("latin1"),
            headers.get("x-twilio-signature", ""),
        )
        signers = cached_stream_signers(*signed)
        if signers is None:
            signers = await patiently(in_database_thread(stream_signers, "call set-up"), *signed)
        if not signers:
            log.warning(
                "media stream handshake refused: bad signature",
                extra={"client": str(self.scope.get("client"))},
            )
            await self.close(code=REFUSED)
            return
        self.stream = TwilioMediaStream(self._send_text, self._close, signers, on_call=self._join)
        await self.accept()
        self.stream.expect_start(settings.MEDIA_START_TIMEOUT_SECONDS)

    async def dispatch(self, message) -> None:
        # Channels closes stale database connections before every message, a hop to the sync
        # thread 50 times a second per call. Frames never touch the database (what does goes
        # through database_sync_to_async, which closes connections itself), so they skip it:
        # a quarter to a third of the CPU a call costs (bench/call_latency).
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.stream is None:
            return
        try:
            await self._receive(self.stream, text_data, bytes_data)
        except Exception:
            # Left to Channels, the socket would close with 1011 and the call's session live
            # on without it (to hang up on nobody at its silence timeout): end the call here.
            log.exception("media stream failed; ending the call")
            try:
                await self.stream.end("error")
            except Exception:
                log.exception("the failed media stream's call did not end cleanly")
            await self.close(code=SERVER_ERROR)

    async def _receive(
        self, stream: TwilioMediaStream, text_data: str | None, bytes_data: bytes | None
    ) -> None:
        if text_data is None:
            log.warning(
                "binary frame on the media stream, skipped", extra={"bytes": len(bytes_data or b"")}
            )
            return
        try:
            event = decode(text_data)
        except ProtocolError as exc:
            log.warning("malformed media stream message, skipped: %s", exc)
            return
        await stream.handle(event)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.stream is not None:
            await self.stream.end("caller_hung_up")

    async def _join(self, call_id: int) -> None:
        """Join the call's group, so staff and webhooks reach its session from any process."""
        self.group = call_group(call_id)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def call_control(self, message: dict) -> None:
        if self.stream is None:
            return
        try:
            await self.stream.control(str(message.get("action", "")), message.get("data") or {})
        except Exception:
            # A command that fails (a malformed one, say) must not take the caller's socket
            # down with it: the call goes on without it.
            log.exception("call control failed", extra={"action": message.get("action")})

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close(self, code: int) -> None:
        try:
            await self.close(code=code)
        except SOCKET_CLOSED:
            pass  # the caller's side closed first (uvicorn says so; Daphne says nothing)
