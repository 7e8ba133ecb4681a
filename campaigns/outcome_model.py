"""Filling a campaign's outcome fields with the agent's language model: the transcript in, one
tool call out whose JSON schema is the campaign's fields. Bounded by a timeout; any failure
(a provider error, no tool call, arguments that break the schema) returns None, and the
caller falls back to the offline rules."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import jsonschema

from calls.models import Agent
from calls.providers import factory
from calls.providers.base import LLM, ProviderError, TextDelta, ToolCalls, ToolSpec
from calls.tools import ToolContext

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20.0
TOOL_NAME = "record_call_outcome"
# Fields whose meaning is plain from their name get a type; any other is free text.
KNOWN_FIELDS: dict[str, dict[str, Any]] = {
    "interested": {"type": ["boolean", "null"], "description": "Is the person interested?"},
    "callback_time": {
        "type": ["string", "null"],
        "description": "When they asked to be called back, ISO 8601 with offset, else null.",
    },
    "wrong_person": {"type": ["boolean", "null"], "description": "Was it the wrong person?"},
    "do_not_call": {"type": ["boolean", "null"], "description": "Did they ask not to be called?"},
    "transferred": {"type": ["boolean", "null"], "description": "Transferred to a person?"},
    "notes": {"type": ["string", "null"], "description": "One or two sentences on the call."},
}


def schema_for(fields: list[str]) -> dict[str, Any]:
    """The JSON schema of the fields: every one required (null when the call did not say)."""
    properties = {
        name: KNOWN_FIELDS.get(
            name, {"type": ["string", "null"], "description": f"The call's {name}, if said."}
        )
        for name in fields
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(fields),
        "additionalProperties": False,
    }


def model_for(agent: Agent) -> LLM | None:
    """The agent's language model, when one is configured (not the scripted brain)."""
    context = ToolContext(call_id=0, tenant_id=agent.tenant_id, agent_id=agent.pk, caller="")
    primary, _fallback, _notes = factory.build_pair("llm", agent, tools=[], context=context)
    return None if primary is None or primary.name == "scripted" else primary


def messages_for(transcript: list[tuple[str, str]], fields: list[str]) -> list[dict[str, str]]:
    lines = "\n".join(f"{speaker}: {text}" for speaker, text in transcript)
    return [
        {
            "role": "system",
            "content": "You read the transcript of a phone call an assistant made for a "
            f"business, and call {TOOL_NAME} once with what the call established. Use null "
            "for anything the call did not say. Do not invent.",
        },
        {"role": "user", "content": f"Fields: {', '.join(fields)}\n\nTranscript:\n{lines}"},
    ]


async def _ask(llm: LLM, messages: list[dict[str, str]], spec: ToolSpec) -> dict[str, Any] | None:
    text = []
    async for event in llm.stream(messages, [spec]):
        if isinstance(event, ToolCalls):
            for call in event.calls:
                if call.name == TOOL_NAME:
                    return call.arguments
        elif isinstance(event, TextDelta):
            text.append(event.text)
    # Some local models answer with the JSON as text instead of a tool call.
    try:
        found = json.loads("".join(text).strip().strip("`").removeprefix("json"))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def fill_with_model(
    llm: LLM, transcript: list[tuple[str, str]], fields: list[str]
) -> dict[str, Any] | None:
    """The fields as the model filled them, or None when it could not (logged)."""
    schema = schema_for(fields)
    spec = ToolSpec(TOOL_NAME, "Record the outcome fields of the call.", schema)

    async def run() -> dict[str, Any] | None:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            return await _ask(llm, messages_for(transcript, fields), spec)

    try:
        values = asyncio.run(run())
    except (ProviderError, TimeoutError) as exc:
        log.warning("outcome model failed: %s", exc or "timed out")
        return None
    if values is None:
        log.warning("outcome model gave no outcome")
        return None
    # Lenient on shape (a field left out is null, an extra one dropped), strict on types.
    values = {name: values.get(name) for name in fields}
    try:
        jsonschema.validate(values, schema)
    except jsonschema.ValidationError as exc:
        log.warning("outcome model broke the schema: %s", exc.message)
        return None
    return values
