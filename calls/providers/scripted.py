"""The scripted brain: an offline agent that drives the same tools a language model would.

No instruction-tuned model ships in a package that installs here, so offline the agent is a
deterministic dialogue policy: it matches what the caller said against each enabled tool's
intents, calls the tool, and speaks the tool's `say` line. Unmatched speech gets a short
clarification. It answers through the LLM interface, so the engine cannot tell it apart.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from calls.providers.base import LLM, Finished, LLMEvent, TextDelta, ToolCall, ToolCalls, ToolSpec
from calls.tools import Tool, ToolContext

DIDNT_CATCH = "Sorry, I didn't quite catch that. Could you say it another way?"
DONE = "All right."


class ScriptedBrain(LLM):
    name = "scripted"
    remote = False

    def __init__(self, tools: list[Tool], context: ToolContext) -> None:
        self.tools = tools
        self.context = context

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        allowed = {spec.name for spec in tools}
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            for text in self._results_to_say(messages):
                yield TextDelta(text)
            yield Finished("stop")
            return
        if last.get("role") == "assistant":  # asked to go on after a failed provider
            yield Finished("stop")
            return
        calls = self._calls_for(str(last.get("content", "")), allowed)
        if calls:
            yield ToolCalls(calls)
            yield Finished("tool_calls")
            return
        yield TextDelta(DIDNT_CATCH)
        yield Finished("stop")

    def _calls_for(self, said: str, allowed: set[str]) -> list[ToolCall]:
        """One tool call for each sentence a tool understands ("What are your hours? Is there
        parking?" is two questions, both answered), the same call only once."""
        calls: list[ToolCall] = []
        seen: set[str] = set()
        for sentence in _sentences(said):
            for tool in self.tools:
                if tool.name not in allowed:
                    continue
                arguments = tool.match(sentence, self.context)
                if arguments is None:
                    continue
                key = f"{tool.name}:{json.dumps(arguments, sort_keys=True)}"
                if key not in seen:
                    seen.add(key)
                    calls.append(ToolCall(f"call_{uuid.uuid4().hex[:12]}", tool.name, arguments))
                break
        return calls

    @staticmethod
    def _results_to_say(messages: list[dict[str, Any]]) -> list[str]:
        """The `say` (or error) of each tool result since the last assistant message. A result
        that `restates` a topic (the whole staged drink, read back) replaces an earlier one's
        say on that topic, so "A large taro. Half sweet." is read back once, as it now is."""
        lines: list[tuple[str, str]] = []
        ended = False
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            try:
                result = json.loads(message.get("content") or "{}")
            except ValueError:
                result = {}
            ended = ended or bool(result.get("ended"))
            topic = str(result.get("restates") or "")
            if topic and any(t == topic for t, _ in lines):
                continue  # a later result (already kept: we read backwards) says it anew
            if result.get("say"):
                lines.append((topic, str(result["say"])))
            elif result.get("error"):
                lines.append((topic, "Sorry, I couldn't do that."))
        lines.reverse()
        if lines:
            return [" ".join(say for _, say in lines)]
        return [] if ended else [DONE]  # the engine says the goodbye itself


def _sentences(text: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.?!])\s+", text) if p.strip()]
    return parts or [text]
