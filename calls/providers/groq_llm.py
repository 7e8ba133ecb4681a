"""Groq chat completions (OpenAI-style streaming with tools)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import groq
import httpx

from calls.providers import http
from calls.providers.base import LLM, LLMEvent, ProviderError, ToolSpec
from calls.providers.chat_stream import chat_events, chat_request
from calls.providers.errors import status_error, transport_error

DEFAULT_MODEL = "openai/gpt-oss-20b"


def groq_error(exc: Exception, *, provider: str) -> ProviderError:
    """Map a groq SDK exception (or the raw httpx one it lets escape mid-stream)."""
    if isinstance(exc, groq.APIStatusError):
        return status_error(exc.status_code, exc.body, provider=provider)
    if isinstance(exc, groq.APITimeoutError | httpx.TimeoutException):
        return transport_error("timed out", exc, provider=provider)
    return transport_error("request failed", exc, provider=provider)


class GroqLLM(LLM):
    """Groq's hosted models; the model is a setting because Groq retires models often."""

    name = "groq"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        temperature: float = 0.3,
        timeout: float = 10.0,
    ) -> None:
        # No SDK retries: the engine decides whether a transient failure is worth the wait.
        self._client = groq.AsyncGroq(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=groq.DefaultAsyncHttpxClient(verify=http.tls_context()),
        )
        self._model = model
        self._temperature = temperature

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        request = chat_request(
            model=self._model, messages=messages, tools=tools, temperature=self._temperature
        )
        try:
            # Unlike ElevenLabs, Groq's create() must be awaited before iterating.
            chunks = await self._client.chat.completions.create(**request)
            async with chunks:
                async for event in chat_events(chunks, provider=self.name):
                    yield event
        # groq lets httpx errors escape while the body streams (a cut connection).
        except (groq.APIError, httpx.HTTPError) as exc:
            raise groq_error(exc, provider=self.name) from exc
