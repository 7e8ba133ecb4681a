"""Deepgram Aura text to speech over REST, streamed as raw mu-law 8 kHz."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.api_error import ApiError

from calls.providers import http
from calls.providers.base import MULAW_8K, TTS
from calls.providers.errors import status_error, transport_error

DEFAULT_VOICE = "aura-2-thalia-en"
PRODUCTION = DeepgramClientEnvironment.PRODUCTION


class DeepgramTTS(TTS):
    """Aura voices; `voice` is the Aura model name (it encodes the language)."""

    name = "deepgram"
    output_format = MULAW_8K

    def __init__(self, *, api_key: str, base_url: str | None = None, timeout: float = 10.0) -> None:
        environment = PRODUCTION
        if base_url is not None:
            environment = DeepgramClientEnvironment(
                base=base_url,
                production=PRODUCTION.production,
                agent=PRODUCTION.agent,
                agent_rest=PRODUCTION.agent_rest,
            )
        self._client = AsyncDeepgramClient(
            api_key=api_key,
            environment=environment,
            timeout=timeout,
            max_retries=0,
            httpx_client=http.client(timeout, follow_redirects=True),
        )

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        audio = self._client.speak.v1.audio.generate(
            text=text,
            model=voice or DEFAULT_VOICE,
            encoding="mulaw",
            sample_rate=8000,
            # REST defaults to a WAV container, whose header would play as a click.
            container="none",
        )
        try:
            async for chunk in audio:
                if chunk:
                    yield chunk
        except ApiError as exc:
            raise status_error(exc.status_code or 0, exc.body, provider=self.name) from exc
        except httpx.TimeoutException as exc:
            raise transport_error("timed out", exc, provider=self.name) from exc
        except httpx.HTTPError as exc:
            raise transport_error("connection failed", exc, provider=self.name) from exc
