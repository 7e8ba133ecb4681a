"""Fake Deepgram live transcription (WebSocket /v1/listen) and builders for its messages."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from calls.tests.fakes.http import ERROR_MODES, Mode


def results(
    transcript: str,
    *,
    is_final: bool = False,
    speech_final: bool = False,
    confidence: float = 0.9,
    from_finalize: bool = False,
) -> dict[str, Any]:
    words = [
        {"word": w, "start": 0.1 * i, "end": 0.1 * i + 0.1, "confidence": confidence}
        for i, w in enumerate(transcript.split())
    ]
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": 1.0,
        "start": 0.0,
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {
            "alternatives": [{"transcript": transcript, "confidence": confidence, "words": words}]
        },
        "metadata": {
            "request_id": "req-1",
            "model_uuid": "uuid-1",
            "model_info": {"name": "nova-3", "version": "1", "arch": "nova-3"},
        },
    }


def speech_started() -> dict[str, Any]:
    return {"type": "SpeechStarted", "channel": [0], "timestamp": 0.2}


def utterance_end() -> dict[str, Any]:
    return {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 1.2}


METADATA = {
    "type": "Metadata",
    "transaction_key": "deprecated",
    "request_id": "req-1",
    "sha256": "0" * 64,
    "created": "2026-01-01T00:00:00.000Z",
    "duration": 1.0,
    "channels": 1,
}


class FakeDeepgramListen:
    """A WebSocket server speaking Deepgram's listen protocol on 127.0.0.1.

    After the first audio frame it sends `on_audio`; on Finalize it sends `on_finalize`; on
    CloseStream it sends Metadata and closes normally. Modes: ok, 401/429/500 (handshake
    refused with that status), hang (never answers the handshake), cut (drops the TCP
    connection right after sending `on_audio`).
    """

    def __init__(self, mode: Mode = "ok") -> None:
        self.mode: Mode = mode
        self.on_audio: list[dict[str, Any]] = []
        self.on_finalize: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.audio = bytearray()
        self.control: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.url = ""
        self._release = asyncio.Event()
        self._server: Server | None = None

    @property
    def control_types(self) -> list[str]:
        return [message["type"] for message in self.control]

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self._session, "127.0.0.1", 0, process_request=self._handshake, close_timeout=0.1
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._release.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        self.headers.append({k.lower(): v for k, v in request.headers.raw_items()})
        if self.mode in ERROR_MODES:
            return connection.respond(HTTPStatus(ERROR_MODES[self.mode]), "fake error\n")
        if self.mode == "hang":
            await self._release.wait()
        return None

    async def _session(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    first = not self.audio
                    self.audio += message
                    if first:
                        await self._send_all(ws, self.on_audio)
                        if self.mode == "cut":
                            # Let the client read what was sent before the socket goes away.
                            await asyncio.sleep(0.05)
                            ws.transport.abort()
                            return
                    continue
                control = json.loads(message)
                self.control.append(control)
                if control["type"] == "Finalize":
                    await self._send_all(ws, self.on_finalize)
                elif control["type"] == "CloseStream":
                    await ws.send(json.dumps(METADATA))
                    await ws.close()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def _send_all(self, ws: ServerConnection, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await ws.send(json.dumps(message))
