"""The OpenAI-style streaming chat protocol shared by Groq and every OpenAI-compatible server.

Both SDKs hand back chunks of the same shape (`choices[0].delta.content`, `delta.tool_calls`
fragments keyed by `index`, `finish_reason`, `usage`), so one function turns either stream
into the engine's LLM events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from calls.providers.base import (
    Finished,
    LLMEvent,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolCalls,
    ToolSpec,
)


def chat_request(
    *, model: str, messages: list[dict[str, Any]], tools: list[ToolSpec], temperature: float
) -> dict[str, Any]:
    """Keyword arguments for `chat.completions.create` in streaming mode."""
    request: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "temperature": temperature,
    }
    if tools:
        # tool_choice without tools is a 400 on OpenAI, so both go together.
        request["tools"] = [tool.as_openai() for tool in tools]
        request["tool_choice"] = "auto"
    if "gpt-oss" in model:
        # gpt-oss always reasons; "low" keeps the first spoken word quick (it rejects "none").
        request["reasoning_effort"] = "low"
    return request


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


async def chat_events(chunks: AsyncIterable[Any], *, provider: str) -> AsyncIterator[LLMEvent]:
    """Yield TextDelta as content arrives, then one ToolCalls if the model called tools, then
    Finished. A stream that ends without a finish reason was cut short: ProviderError."""
    calls: dict[int, _PendingCall] = {}
    finish_reason: str | None = None
    usage: dict[str, Any] = {}
    async for chunk in chunks:
        chunk_usage = chunk.usage or getattr(getattr(chunk, "x_groq", None), "usage", None)
        if chunk_usage is not None:
            usage = chunk_usage.model_dump(exclude_none=True)
        if not chunk.choices:  # the usage-only chunk that closes an OpenAI stream
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        # delta.reasoning (Groq reasoning models) is the model thinking aloud: never spoken.
        if delta.content:
            yield TextDelta(delta.content)
        for fragment in delta.tool_calls or []:
            pending = calls.setdefault(fragment.index, _PendingCall())
            pending.id = fragment.id or pending.id
            if fragment.function is not None:
                pending.name = fragment.function.name or pending.name
                pending.arguments += fragment.function.arguments or ""
        finish_reason = choice.finish_reason or finish_reason
    if finish_reason is None:
        raise ProviderError(f"{provider} stream ended without a finish reason", provider=provider)
    if calls:
        yield ToolCalls([_parse(index, calls[index], provider) for index in sorted(calls)])
    yield Finished(reason=finish_reason, usage=usage)


def _parse(index: int, pending: _PendingCall, provider: str) -> ToolCall:
    if not pending.name:
        raise ProviderError(f"{provider} sent tool call {index} without a name", provider=provider)
    try:
        arguments = json.loads(pending.arguments) if pending.arguments.strip() else {}
    except json.JSONDecodeError as exc:
        sample = pending.arguments[:200]
        raise ProviderError(
            f"{provider} sent unparseable arguments for {pending.name}: {sample!r}",
            provider=provider,
        ) from exc
    if not isinstance(arguments, dict):
        raise ProviderError(
            f"{provider} sent non-object arguments for {pending.name}", provider=provider
        )
    # Some local servers omit the id; the engine still needs one to pair the tool result.
    return ToolCall(id=pending.id or f"call_{index}", name=pending.name, arguments=arguments)
