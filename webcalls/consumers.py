"""The browser call's WebSocket: check who it is, open the test call, hand frames on."""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import reverse

from calls.control import call_group
from webcalls.access import agent_for_staff
from webcalls.actions import open_test_call
from webcalls.transport import BrowserCall

log = logging.getLogger(__name__)

SERVER_ERROR = 1011
NOT_CONNECTED = 4500  # the call could not be connected (its agent's set-up)


class TestCallConsumer(AsyncWebsocketConsumer):
    call: BrowserCall | None = None
    group: str = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        agent_id = self.scope["url_route"]["kwargs"]["agent_id"]
        agent = await database_sync_to_async(agent_for_staff)(user, agent_id)
        if agent is None:
            await self.close()  # before accept: the handshake is refused (403)
            return
        await self.accept()
        call = await database_sync_to_async(open_test_call)(agent=agent, user=user)
        self.group = call_group(call.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.call = BrowserCall(self._send_bytes, self._send_text, self._close)
        if not await self.call.start(call.pk, reverse("admin:calls_call_change", args=[call.pk])):
            await self.close(code=NOT_CONNECTED)

    async def dispatch(self, message) -> None:
        # As the media consumer: audio frames (50 a second) never touch the database, so they
        # skip Channels' per-message hop to close stale connections.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.call is None:
            return
        try:
            if bytes_data is not None:
                await self.call.on_audio(bytes_data)
            elif text_data is not None:
                await self.call.on_message(text_data)
        except Exception:
            # The call must not live on without its socket: end it here.
            log.exception("browser call failed; ending the call")
            try:
                await self.call.end("error")
            finally:
                await self.close(code=SERVER_ERROR)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.call is not None:
            await self.call.end("caller_hung_up")

    async def call_control(self, message: dict) -> None:
        if self.call is None:
            return
        try:
            await self.call.control(str(message.get("action", "")), message.get("data") or {})
        except Exception:
            log.exception("call control failed", extra={"action": message.get("action")})

    async def _send_bytes(self, data: bytes) -> None:
        await self.send(bytes_data=data)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close(self, code: int) -> None:
        await self.close(code=code)
