"""ElevenLabs streaming text to speech over HTTP, asked for raw mu-law 8 kHz."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import httpx
from elevenlabs import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError

from calls.providers import http
from calls.providers.base import MULAW_8K, TTS
from calls.providers.errors import status_error, transport_error

DEFAULT_MODEL = "eleven_flash_v2_5"
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"  # "Rachel", one of ElevenLabs' premade voices
FRAME_BYTES = 160  # 20 ms of mu-law 8 kHz


class ElevenLabsTTS(TTS):
    """ElevenLabs voices; `voice` is a voice id (the constructor's `voice_id` when empty)."""

    name = "elevenlabs"
    output_format = MULAW_8K

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model_id: str = DEFAULT_MODEL,
        voice_id: str = DEFAULT_VOICE,
        timeout: float = 10.0,
    ) -> None:
        # api_key is passed explicitly: the SDK reads its env var once, at import time.
        self._client = AsyncElevenLabs(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            httpx_client=http.client(timeout, follow_redirects=True),
        )
        self._model_id = model_id
        self._voice_id = voice_id

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        # An async generator: iterate it, never await it (the SDK's docstring is wrong).
        audio = self._client.text_to_speech.stream(
            voice or self._voice_id,
            text=text,
            model_id=self._model_id,
            output_format="ulaw_8000",
            optimize_streaming_latency=3,
            # The SDK otherwise holds audio back until 1 KiB (128 ms) has arrived.
            request_options={"chunk_size": FRAME_BYTES},
        )
        try:
            async for chunk in without_wav_header(audio):
                yield chunk
        except ApiError as exc:
            raise status_error(exc.status_code or 0, exc.body, provider=self.name) from exc
        except httpx.TimeoutException as exc:
            raise transport_error("timed out", exc, provider=self.name) from exc
        except httpx.HTTPError as exc:
            raise transport_error("connection failed", exc, provider=self.name) from exc


async def without_wav_header(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Pass audio through, dropping a leading RIFF/WAVE header if the stream has one.

    ulaw_8000 is documented as headerless, but a header played as mu-law is an audible click,
    so it is stripped defensively. The header may span several chunks.
    """
    head: bytes | None = b""  # None once the start of the stream is settled
    async for chunk in chunks:
        if head is None:
            yield chunk
            continue
        head += chunk
        wav = _is_wav(head)
        if wav is None:
            continue
        if wav:
            start = _wav_data_start(head)
            if start is None:
                continue
            head = head[start:]
        if head:
            yield head
        head = None
    if head:
        yield head


def _is_wav(head: bytes) -> bool | None:
    """Whether the stream starts with a WAV header; None while too short to tell."""
    if head[:4] != b"RIFF"[: len(head[:4])]:
        return False
    if len(head) < 12:
        return None
    return head[8:12] == b"WAVE"


def _wav_data_start(wav: bytes) -> int | None:
    """Offset of the first sample after the "data" chunk header, None if not seen yet."""
    position = 12  # "RIFF" <size> "WAVE"
    while position + 8 <= len(wav):
        chunk_id = wav[position : position + 4]
        size = int.from_bytes(wav[position + 4 : position + 8], "little")
        if chunk_id == b"data":
            return position + 8
        position += 8 + size + (size & 1)  # RIFF chunks are padded to even sizes
    return None
