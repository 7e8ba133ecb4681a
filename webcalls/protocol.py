"""The browser call's wire format, pure: no socket, no database.

Binary frames carry audio both ways: mu-law, 8 kHz, mono (the engine's own format, so the
server neither resamples nor re-encodes; the page does that with the microphone). Text frames
are JSON. From the page: {"type": "mark", "name": ...} when its playback reaches a mark (as
Twilio echoes marks), {"type": "dtmf", "digit": "5"}. To the page: "call" (the Call's id), "mark",
"clear", "turn" (a transcript line with its latency), "event" and "ended".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from calls.engine.recorder import TurnRecord

MAX_MARK_NAME = 64
DIGITS = frozenset("0123456789*#")


class ProtocolError(ValueError):
    """A text frame the page should never send."""


@dataclass(frozen=True)
class MarkPlayed:
    name: str


@dataclass(frozen=True)
class KeyPressed:
    digit: str


PageMessage = MarkPlayed | KeyPressed


def decode(text: str) -> PageMessage:
    """One text frame from the page; ProtocolError when it is not one the page sends."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    kind = message.get("type")
    if kind == "mark":
        name = message.get("name")
        if not isinstance(name, str) or not name or len(name) > MAX_MARK_NAME:
            raise ProtocolError("a mark needs a name (a short string)")
        return MarkPlayed(name)
    if kind == "dtmf":
        digit = message.get("digit")
        if not isinstance(digit, str) or digit not in DIGITS:
            raise ProtocolError("a key press needs one digit of 0-9, * or #")
        return KeyPressed(digit)
    raise ProtocolError(f"unknown message type {kind!r}")


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, cls=DjangoJSONEncoder)


def encode_call(call_id: int, admin_url: str) -> str:
    return _encode({"type": "call", "call_id": call_id, "admin_url": admin_url})


def encode_mark(name: str) -> str:
    return _encode({"type": "mark", "name": name})


def encode_clear() -> str:
    return _encode({"type": "clear"})


def encode_turn(record: TurnRecord) -> str:
    """A transcript line as it was written: the agent's with its latency (end of the caller's
    speech to its first audio sent) and the timings behind it."""
    return _encode(
        {
            "type": "turn",
            "index": record.index,
            "speaker": record.speaker,
            "text": record.text,
            "interrupted": record.interrupted,
            "latency_ms": record.latency_ms,
            "timings": dict(record.timings),
        }
    )


def encode_event(kind: str, data: dict[str, Any]) -> str:
    return _encode({"type": "event", "kind": kind, "data": data})


def encode_ended(outcome: str, reason: str = "") -> str:
    return _encode({"type": "ended", "outcome": outcome, "reason": reason})
