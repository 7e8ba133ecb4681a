"""Fakes for the streaming TTS endpoints: Deepgram speak (REST) and ElevenLabs stream."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from calls.tests.fakes.http import HTTPFake, Mode, RecordedRequest

AUDIO_CHUNKS = [b"\x7f" * 160, b"\x80" * 160, b"\xff" * 80]


class FakeDeepgramSpeak(HTTPFake):
    """POST /v1/speak answering raw audio in `audio_chunks`."""

    def __init__(self, mode: Mode = "ok", audio_chunks: list[bytes] | None = None) -> None:
        super().__init__(mode)
        self.audio_chunks = list(audio_chunks or AUDIO_CHUNKS)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/speak", self.handle)]

    async def answer(self, recorded: RecordedRequest) -> tuple[str, list[bytes]]:
        return "audio/basic", self.audio_chunks

    def error_body(self, status: int) -> dict[str, Any]:
        return {"err_code": "FAKE", "err_msg": f"fake error {status}", "request_id": "req-1"}


class FakeElevenLabs(HTTPFake):
    """POST /v1/text-to-speech/{voice_id}/stream answering raw audio in `audio_chunks`."""

    def __init__(self, mode: Mode = "ok", audio_chunks: list[bytes] | None = None) -> None:
        super().__init__(mode)
        self.audio_chunks = list(audio_chunks or AUDIO_CHUNKS)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/text-to-speech/{voice_id}/stream", self.handle)]

    async def answer(self, recorded: RecordedRequest) -> tuple[str, list[bytes]]:
        return "audio/basic", self.audio_chunks

    def error_body(self, status: int) -> dict[str, Any]:
        return {"detail": {"status": "fake_error", "message": f"fake error {status}"}}
