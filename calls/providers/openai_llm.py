"""Any OpenAI-compatible chat server: OpenAI itself, vLLM, Ollama, llama.cpp server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from calls.providers import http
from calls.providers.base import LLM, LLMEvent, ToolSpec
from calls.providers.chat_stream import chat_events, chat_request
from calls.providers.errors import status_error, transport_error


class OpenAICompatibleLLM(LLM):
    """OpenAI's chat completions API at any base URL (e.g. "http://127.0.0.1:11434/v1").

    Local servers need no key; the SDK insists on one, so "none" stands in.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.3,
        timeout: float = 10.0,
        name: str = "openai",
    ) -> None:
        self.name = name
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "none",
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=openai.DefaultAsyncHttpxClient(verify=http.tls_context()),
        )
        self._model = model
        self._temperature = temperature

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        request = chat_request(
            model=self._model, messages=messages, tools=tools, temperature=self._temperature
        )
        request["stream_options"] = {"include_usage": True}
        try:
            chunks = await self._client.chat.completions.create(**request)
            async with chunks:
                async for event in chat_events(chunks, provider=self.name):
                    yield event
        except openai.APIStatusError as exc:
            raise status_error(exc.status_code, exc.body, provider=self.name) from exc
        except openai.APITimeoutError as exc:
            raise transport_error("timed out", exc, provider=self.name) from exc
        except openai.APIError as exc:
            raise transport_error("request failed", exc, provider=self.name) from exc
