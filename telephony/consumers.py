"""Placeholder replaced by the media consumer."""

from channels.generic.websocket import AsyncWebsocketConsumer


class MediaStreamConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close(code=4403)
