"""Per-call variables in an agent's texts: `{first_name}` in a greeting or a prompt.

Only plain `{name}` placeholders exist. Attribute and index access (`{x.__class__}`,
`{x[0]}`), conversions and format specs are refused, so a tenant's prompt never reaches into
Python objects; `{{` and `}}` are literal braces. A text is checked when the call is set up,
so a missing variable stops the call before the agent speaks, not mid-sentence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from string import Formatter
from typing import Any

# The Agent fields rendered for each call.
RENDERED_FIELDS = ("greeting", "system_prompt", "reprompt", "goodbye", "voicemail_message")


class TemplateError(ValueError):
    """A text with a placeholder that is not a plain `{name}`, or with unbalanced braces."""


class MissingVariables(KeyError):
    """Variables a text needs that the call does not have."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        super().__init__(", ".join(self.names))

    def __str__(self) -> str:
        return "missing variables: " + ", ".join(self.names)


def _fields(text: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) pairs of `text`."""
    try:
        parsed = list(Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"{exc} in {text[:60]!r}") from None
    parts = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (not name.isidentifier() or spec or conversion):
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise TemplateError(
                f"{{{shown}}} is not a plain {{name}} placeholder (write {{{{ and }}}} for "
                "literal braces)"
            )
        parts.append((literal, name))
    return parts


def placeholders(text: str) -> set[str]:
    """The variable names `text` uses. TemplateError when it is malformed."""
    return {name for _, name in _fields(text) if name is not None}


def check(texts: Iterable[str], variables: Mapping[str, Any]) -> None:
    """Raise TemplateError or MissingVariables unless every text can be rendered."""
    needed: set[str] = set()
    for text in texts:
        needed |= placeholders(text)
    missing = needed - set(variables)
    if missing:
        raise MissingVariables(missing)


def render(text: str, variables: Mapping[str, Any]) -> str:
    """`text` with its placeholders replaced (values are not themselves rendered)."""
    out = []
    for literal, name in _fields(text):
        out.append(literal)
        if name is not None:
            if name not in variables:
                raise MissingVariables([name])
            out.append(str(variables[name]))
    return "".join(out)


def validate_values(variables: object) -> dict[str, str | int | float | bool]:
    """`variables` as given for a call: a JSON object of plain names to scalar values."""
    if not isinstance(variables, Mapping):
        raise TemplateError("variables must be an object of names to values")
    bad = [k for k in variables if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise TemplateError(f"not variable names: {', '.join(map(repr, bad))}")
    nested = [k for k, v in variables.items() if not isinstance(v, str | int | float | bool)]
    if nested:
        raise TemplateError(f"variables must be text or numbers: {', '.join(nested)}")
    return dict(variables)


def for_call(call: Any) -> dict[str, Any]:
    """The variables a call's texts may use: the basics every call has, then its own."""
    inbound = call.direction == "inbound"
    return {
        "caller_number": call.from_number if inbound else call.to_number,
        "business_name": call.tenant.name,
        "agent_name": call.agent.name if call.agent else "",
        **(call.variables or {}),
    }
