"""Fake Groq transcription endpoint (multipart upload in, JSON out)."""

from __future__ import annotations

import json

from aiohttp import web

from calls.tests.fakes.http import HTTPFake, Mode, RecordedRequest


class FakeWhisper(HTTPFake):
    """POST /openai/v1/audio/transcriptions answering {"text": transcript}."""

    def __init__(self, mode: Mode = "ok", transcript: str = "I would like a pizza.") -> None:
        super().__init__(mode)
        self.transcript = transcript

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/openai/v1/audio/transcriptions", self.handle)]

    async def answer(self, recorded: RecordedRequest) -> tuple[str, list[bytes]]:
        body = json.dumps({"text": self.transcript, "x_groq": {"id": "req-1"}}).encode()
        # Two pieces so that "cut" mode can drop the connection halfway through the JSON.
        half = len(body) // 2
        return "application/json", [body[:half], body[half:]]
