"""Fake OpenAI-style chat completions (Groq under /openai/v1, others under /v1), streamed as
server-sent events, plus builders for the chunks a test scripts."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from calls.tests.fakes.http import HTTPFake, Mode, RecordedRequest


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` with a single choice."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        **extra,
    }


def text(content: str) -> dict[str, Any]:
    return chunk({"role": "assistant", "content": content})


def tool_call(
    index: int, *, id: str | None = None, name: str | None = None, arguments: str = ""
) -> dict[str, Any]:
    """A delta carrying one tool call or a fragment of it (id and name only on the first)."""
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        call |= {"id": id, "type": "function"}
    if name is not None:
        call["function"]["name"] = name
    return chunk({"tool_calls": [call]})


def finish(reason: str = "stop", usage: dict[str, int] | None = None) -> dict[str, Any]:
    extra = {"usage": usage} if usage is not None else {}
    return chunk({}, finish_reason=reason, **extra)


class FakeChatCompletions(HTTPFake):
    """POST {/openai,}/v1/chat/completions streaming `chunks` as SSE, then [DONE]."""

    def __init__(self, mode: Mode = "ok", chunks: list[dict[str, Any]] | None = None) -> None:
        super().__init__(mode)
        self.chunks = list(chunks or [text("Hello"), text(" there."), finish()])

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/openai/v1/chat/completions", self.handle),
            web.post("/v1/chat/completions", self.handle),
        ]

    async def answer(self, recorded: RecordedRequest) -> tuple[str, list[bytes]]:
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in self.chunks]
        return "text/event-stream", [*events, b"data: [DONE]\n\n"]


def usage_only(usage: dict[str, int]) -> dict[str, Any]:
    """The last chunk OpenAI sends with stream_options.include_usage: usage, no choices."""
    return {**chunk({}), "choices": [], "usage": usage}
