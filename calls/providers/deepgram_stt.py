"""Deepgram live transcription (listen v1 WebSocket) fed with the call's mu-law 8 kHz audio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.api_error import ApiError
from deepgram.listen.v1.socket_client import AsyncV1SocketClient
from deepgram.listen.v1.types import (
    ListenV1Error,
    ListenV1Results,
    ListenV1SpeechStarted,
    ListenV1UtteranceEnd,
)
from websockets.exceptions import ConnectionClosed, WebSocketException

from calls.providers import http
from calls.providers.base import (
    MULAW_8K,
    STT,
    ProviderError,
    SpeechStarted,
    STTEvent,
    STTSession,
    Transcript,
    UtteranceEnd,
)
from calls.providers.errors import status_error, transport_error

PRODUCTION = DeepgramClientEnvironment.PRODUCTION


class DeepgramSTT(STT):
    """Streaming recognition with interim results, endpointing and VAD events.

    `environment_url` is the WebSocket base ("ws://127.0.0.1:PORT" in tests; None for
    Deepgram's own). `keepalive_s` is how long the socket may go without audio before a
    KeepAlive is sent (Deepgram hangs up after 10 s of silence on the wire).
    """

    name = "deepgram"
    input_format = MULAW_8K
    streaming = True

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "nova-3",
        environment_url: str | None = None,
        endpointing_ms: int = 300,
        utterance_end_ms: int = 1000,
        connect_timeout: float = 5.0,
        keepalive_s: float = 4.0,
    ) -> None:
        environment = PRODUCTION
        if environment_url is not None:
            environment = DeepgramClientEnvironment(
                base=PRODUCTION.base,
                production=environment_url,
                agent=PRODUCTION.agent,
                agent_rest=PRODUCTION.agent_rest,
            )
        self._client = AsyncDeepgramClient(
            api_key=api_key,
            environment=environment,
            httpx_client=http.client(connect_timeout, follow_redirects=True),
        )
        self._model = model
        self._endpointing_ms = endpointing_ms
        self._utterance_end_ms = utterance_end_ms
        self._connect_timeout = connect_timeout
        self._keepalive_s = keepalive_s

    async def open(self, *, language: str, hints: list[str] | None = None) -> STTSession:
        options: dict[str, Any] = {
            "model": self._model,
            "language": language,
            "encoding": "mulaw",
            "sample_rate": 8000,
            "channels": 1,
            "interim_results": True,
            "endpointing": self._endpointing_ms,
            "utterance_end_ms": self._utterance_end_ms,
            "vad_events": True,
            "smart_format": True,
            "punctuate": True,
        }
        if hints and self._model.startswith("nova-3"):
            options["keyterm"] = hints  # keyterm prompting exists on nova-3 only
        stack = AsyncExitStack()
        try:
            # The SDK's own handshake timeout is 10 s; a call cannot wait that long.
            async with asyncio.timeout(self._connect_timeout):
                socket = await stack.enter_async_context(self._client.listen.v1.connect(**options))
        except ApiError as exc:
            raise status_error(exc.status_code or 0, exc.body, provider=self.name) from exc
        except TimeoutError as exc:
            raise transport_error("timed out connecting", exc, provider=self.name) from exc
        except (OSError, WebSocketException) as exc:
            raise transport_error("connection failed", exc, provider=self.name) from exc
        return DeepgramSession(stack, socket, keepalive_s=self._keepalive_s, provider=self.name)


class DeepgramSession(STTSession):
    """One open listen socket. Owns the KeepAlive task and the socket's exit stack."""

    def __init__(
        self,
        stack: AsyncExitStack,
        socket: AsyncV1SocketClient,
        *,
        keepalive_s: float,
        provider: str,
    ) -> None:
        self._stack = stack
        self._socket = socket
        self._provider = provider
        self._closing = False
        self._last_sent = asyncio.get_running_loop().time()
        self._keepalive = asyncio.create_task(self._keep_alive(keepalive_s))

    async def send_audio(self, audio: bytes) -> None:
        with self._socket_errors():
            await self._socket.send_media(audio)
        self._last_sent = asyncio.get_running_loop().time()

    async def finalize(self) -> None:
        with self._socket_errors():
            await self._socket.send_finalize()

    async def events(self) -> AsyncIterator[STTEvent]:
        with self._socket_errors():
            async for message in self._socket:
                event = self._event(message)
                if event is not None:
                    yield event
        if not self._closing:
            raise ProviderError(f"{self._provider} closed the stream", provider=self._provider)

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._keepalive.cancel()
        await asyncio.wait([self._keepalive])
        try:
            # CloseStream makes Deepgram flush its last results, then close the socket.
            await self._socket.send_close_stream()
        except ConnectionClosed:
            pass  # already gone: there is nothing left to flush
        await self._stack.aclose()

    def _event(self, message: object) -> STTEvent | None:
        if isinstance(message, ListenV1Results):
            alternatives = message.channel.alternatives
            text = alternatives[0].transcript if alternatives else ""
            # Interim results for silence are empty; an empty speech_final still marks a pause.
            if not text and not message.speech_final:
                return None
            return Transcript(
                text=text,
                is_final=bool(message.is_final),
                speech_final=bool(message.speech_final),
                confidence=alternatives[0].confidence if alternatives else None,
            )
        if isinstance(message, ListenV1SpeechStarted):
            return SpeechStarted()
        if isinstance(message, ListenV1UtteranceEnd):
            return UtteranceEnd()
        if isinstance(message, ListenV1Error):
            raise ProviderError(
                f"{self._provider} error {message.code}: {message.description}",
                provider=self._provider,
            )
        return None  # Metadata, configure acknowledgements

    async def _keep_alive(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_sent
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await self._socket.send_keep_alive()
            except ConnectionClosed:
                return  # events() reports the lost connection
            self._last_sent = loop.time()

    @contextmanager
    def _socket_errors(self) -> Iterator[None]:
        try:
            yield
        except ConnectionClosed as exc:
            raise transport_error("connection lost", exc, provider=self._provider) from exc
