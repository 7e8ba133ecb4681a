"""The tool registry: what an agent can do besides talking.

Apps register tools (a JSON schema and an async handler) in their AppConfig.ready(); an Agent
names the tools it may use. The engine runs a tool when the brain asks, validates its arguments
against the schema, and feeds the result back. `intents` let the offline scripted brain reach the
same tools from recognised text: regular expressions whose named groups become arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import jsonschema

from calls.providers.base import ToolSpec

S = TypeVar("S")


@dataclass
class ToolContext:
    """What a tool (and a call start or end hook, calls.hooks) knows about the call it runs
    in. `variables` are the call's own (calls.variables). `state(Cls)` is the call's typed
    scratch space (see there)."""

    call_id: int
    tenant_id: int
    agent_id: int | None
    caller: str
    time_zone: str = "UTC"
    knowledge: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    direction: str = "inbound"
    _states: dict[type, Any] = field(default_factory=dict, repr=False)

    def state(self, cls: type[S]) -> S:
        """The call's one instance of `cls`, made with `cls()` on first use: every tool of an
        app shares it (a cart), and apps do not collide, each asking for its own class."""
        if cls not in self._states:
            self._states[cls] = cls()
        return self._states[cls]

    def state_if_any(self, cls: type[S]) -> S | None:
        """The call's instance of `cls` if a tool made one (an end hook's question)."""
        return self._states.get(cls)


@dataclass
class ToolResult:
    """`data` goes back to the language model as JSON. `say` is a sentence a scripted brain
    may speak as is. `end_call` asks the engine to say goodbye and hang up."""

    data: dict[str, Any]
    say: str = ""
    end_call: bool = False

    def as_message_content(self) -> str:
        payload = dict(self.data)
        if self.say:
            payload.setdefault("say", self.say)
        return json.dumps(payload, default=str)


Handler = Callable[..., Awaitable[ToolResult]]
Matcher = Callable[[str, ToolContext], dict[str, Any] | None]
SchemaBuilder = Callable[[ToolContext], dict[str, Any]]
HintsBuilder = Callable[[ToolContext], list[str]]


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler
    intents: list[re.Pattern[str]] = field(default_factory=list)
    matcher: Matcher | None = None
    schema_for: SchemaBuilder | None = None
    hints_for: HintsBuilder | None = None

    def hints(self, ctx: ToolContext) -> list[str]:
        """Words callers say to this tool (menu names), given to the recogniser as hints so it
        writes "boba", not "bulba". Runs at call set-up, in the database thread."""
        return list(self.hints_for(ctx)) if self.hints_for is not None else []

    def for_call(self, ctx: ToolContext) -> Tool:
        """This tool as one call sees it: with `schema_for`, its parameters are built for the
        call (from the tenant's menu: item names as enums, so a model cannot order what the shop
        does not sell). Runs at call set-up, in the database thread."""
        if self.schema_for is None:
            return self
        parameters = self.schema_for(ctx)
        jsonschema.Draft202012Validator.check_schema(parameters)
        return replace(self, parameters=parameters)

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    def match(self, text: str, ctx: ToolContext) -> dict[str, Any] | None:
        """Arguments for this tool if `text` asks for it (scripted brain), else None."""
        for pattern in self.intents:
            found = pattern.search(text)
            if found:
                return {k: v for k, v in found.groupdict().items() if v is not None}
        if self.matcher is not None:
            return self.matcher(text, ctx)
        return None

    async def run(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        """Validate `arguments` against the schema, then call the handler. A bad argument is
        returned to the model as an error it can correct, not raised."""
        try:
            jsonschema.validate(arguments, self.parameters)
        except jsonschema.ValidationError as exc:
            return ToolResult({"error": f"invalid arguments: {exc.message}"})
        return await self.handler(ctx, **arguments)


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> Tool:
        if tool.name in self._tools and self._tools[tool.name].handler is not tool.handler:
            raise ValueError(f"a different tool is already registered as {tool.name!r}")
        jsonschema.Draft202012Validator.check_schema(tool.parameters)
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def all(self) -> list[Tool]:
        return list(self._tools.values())

    def for_agent(self, names: list[str]) -> list[Tool]:
        """The tools an agent enabled, in its order, skipping names nobody registered."""
        return [self._tools[n] for n in names if n in self._tools]


registry = ToolRegistry()


def tool(
    name: str,
    description: str,
    parameters: dict[str, Any] | None = None,
    *,
    intents: list[str] | tuple[str, ...] = (),
    matcher: Matcher | None = None,
    schema_for: SchemaBuilder | None = None,
    hints_for: HintsBuilder | None = None,
) -> Callable[[Handler], Handler]:
    """Register an async handler `(ctx, **arguments) -> ToolResult` as a tool. `parameters`
    is the schema; `schema_for(ctx)`, when given, builds it per call instead (Tool.for_call);
    `hints_for(ctx)` gives the recogniser the words callers use with it (Tool.hints)."""
    schema = parameters or {"type": "object", "properties": {}, "additionalProperties": False}

    def decorate(handler: Handler) -> Handler:
        registry.register(
            Tool(
                name=name,
                description=description,
                parameters=schema,
                handler=handler,
                intents=[re.compile(p, re.IGNORECASE) for p in intents],
                matcher=matcher,
                schema_for=schema_for,
                hints_for=hints_for,
            )
        )
        return handler

    return decorate
