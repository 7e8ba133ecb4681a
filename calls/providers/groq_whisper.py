"""Groq Whisper: batch transcription of one utterance at a time (the STT fallback)."""

from __future__ import annotations

import asyncio
import audioop  # deprecated in 3.11, removed in 3.13 (audioop-lts there)
import io
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import groq
import httpx

from calls.providers import http
from calls.providers.base import MULAW_8K, STT, ProviderError, STTEvent, STTSession, Transcript
from calls.providers.groq_llm import groq_error

DEFAULT_MODEL = "whisper-large-v3-turbo"


def mulaw_to_wav(mulaw: bytes) -> bytes:
    """Wrap mu-law 8 kHz mono as a PCM16 WAV file (Whisper takes no raw mu-law)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(audioop.ulaw2lin(mulaw, 2))
    return out.getvalue()


class GroqWhisperSTT(STT):
    """Not streaming: the engine cuts utterances with its VAD and calls finalize() on each."""

    name = "groq"
    input_format = MULAW_8K
    streaming = False

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._client = groq.AsyncGroq(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=groq.DefaultAsyncHttpxClient(verify=http.tls_context()),
        )
        self._model = model

    async def open(self, *, language: str, hints: list[str] | None = None) -> STTSession:
        # Whisper takes ISO 639-1 ("en"), not the locales Deepgram accepts ("en-US").
        transcribe = partial(
            self._transcribe,
            language=language.split("-")[0].lower(),
            prompt=" ".join(hints or []),
        )
        return WhisperSession(transcribe)

    async def _transcribe(self, mulaw: bytes, *, language: str, prompt: str) -> str:
        try:
            result = await self._client.audio.transcriptions.create(
                model=self._model,
                file=("audio.wav", mulaw_to_wav(mulaw)),
                language=language,
                prompt=prompt or groq.NOT_GIVEN,
            )
        except (groq.APIError, httpx.HTTPError) as exc:
            raise groq_error(exc, provider=self.name) from exc
        return result.text.strip()


_CLOSED = object()


class WhisperSession(STTSession):
    """Buffers the utterance; finalize() transcribes it and the result (or the failure)
    comes out of events(), as it would from a streaming recogniser."""

    def __init__(self, transcribe: Callable[[bytes], Awaitable[str]]) -> None:
        self._transcribe = transcribe
        self._buffer = bytearray()
        self._results: asyncio.Queue[Transcript | ProviderError | object] = asyncio.Queue()
        self._closed = False

    async def send_audio(self, audio: bytes) -> None:
        self._buffer += audio

    async def finalize(self) -> None:
        if not self._buffer:
            return
        utterance = bytes(self._buffer)
        self._buffer.clear()
        try:
            text = await self._transcribe(utterance)
        except ProviderError as exc:
            self._results.put_nowait(exc)
            return
        self._results.put_nowait(Transcript(text=text, is_final=True, speech_final=True))

    async def events(self) -> AsyncIterator[STTEvent]:
        while (result := await self._results.get()) is not _CLOSED:
            if isinstance(result, ProviderError):
                raise result
            assert isinstance(result, Transcript)
            yield result

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._buffer.clear()
            self._results.put_nowait(_CLOSED)
