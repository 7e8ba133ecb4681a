"""Tools every agent can use: ending the call, telling the time, answering from its facts."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from calls.tools import ToolContext, ToolResult, tool

_WORD = re.compile(r"[a-z0-9']+")
_STOP = {
    "the",
    "a",
    "an",
    "is",
    "are",
    "you",
    "your",
    "what",
    "do",
    "does",
    "i",
    "to",
    "of",
    "and",
    "me",
    "can",
    "how",
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def best_topic(text: str, knowledge: dict[str, str]) -> str | None:
    """The knowledge topic whose words (topic and answer) best overlap `text`'s."""
    said = _words(text)
    best, best_score = None, 0.0
    for topic, answer in knowledge.items():
        topic_words = _words(topic)
        score = 2 * len(said & topic_words) + 0.5 * len(said & _words(answer))
        if score > best_score:
            best, best_score = topic, score
    return best if best_score >= 2 else None


def _knowledge_matcher(text: str, ctx: ToolContext) -> dict | None:
    topic = best_topic(text, ctx.knowledge)
    return {"topic": topic} if topic else None


@tool(
    "end_call",
    "Say goodbye and hang up. Use when the caller is done or asks to end the call.",
    {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why the call ends."}},
        "additionalProperties": False,
    },
    intents=[
        r"\b(good ?bye|bye|hang up|that'?s all|that is all|nothing else|no thanks?,? that'?s it)\b"
    ],
)
async def end_call(ctx: ToolContext, reason: str = "caller finished") -> ToolResult:
    return ToolResult({"ended": True, "reason": reason}, end_call=True)


@tool(
    "current_time",
    "The current local date and time where the business is.",
    intents=[
        r"\bwhat time is it\b",
        r"\b(the )?(current )?time (is it|now)\b",
        r"\bwhat'?s the time\b",
    ],
)
async def current_time(ctx: ToolContext) -> ToolResult:
    now = datetime.now(ZoneInfo(ctx.time_zone))
    spoken = now.strftime("%I:%M %p").lstrip("0")
    return ToolResult(
        {"iso": now.isoformat(timespec="minutes"), "time_zone": ctx.time_zone},
        say=f"It's {spoken} here.",
    )


@tool(
    "lookup_info",
    "Look up a fact about the business (hours, address, parking, ...) by topic.",
    {
        "type": "object",
        "properties": {"topic": {"type": "string", "description": "What the caller asks about."}},
        "required": ["topic"],
        "additionalProperties": False,
    },
    matcher=_knowledge_matcher,
)
async def lookup_info(ctx: ToolContext, topic: str) -> ToolResult:
    key = topic if topic in ctx.knowledge else best_topic(topic, ctx.knowledge)
    if key is None:
        return ToolResult({"found": False, "topic": topic}, say="I'm sorry, I don't know that.")
    return ToolResult(
        {"found": True, "topic": key, "answer": ctx.knowledge[key]}, say=ctx.knowledge[key]
    )


def parse_knowledge(text: str) -> dict[str, str]:
    """An Agent's 'topic: answer' lines as a dict."""
    facts = {}
    for line in text.splitlines():
        topic, sep, answer = line.partition(":")
        if sep and topic.strip() and answer.strip():
            facts[topic.strip().lower()] = answer.strip()
    return facts
