"""Twilio Media Streams messages, decoded into typed events and encoded back. Pure: no socket.

Inbound: connected, start, media, mark, dtmf, stop. Outbound: media, mark, clear (the only
messages Twilio accepts on a stream; hanging up is a REST request).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

MAX_MESSAGE_CHARS = 64 * 1024  # a 20 ms frame is ~400 characters; anything huge is not Twilio
MAX_PAYLOAD_BYTES = 16 * 1024
# Twilio's messages nest at most 3 levels ({"start": {"mediaFormat": {...}}}). The json module
# recurses once per level, so a 60 KB frame of '{"a":' would otherwise raise RecursionError.
MAX_DEPTH = 8
# A JSON string, or an unterminated one to the end of the text (so the scan is linear).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\{\}|\[\]")


class ProtocolError(ValueError):
    """A message that is not a valid Media Streams message. It is logged and skipped."""


@dataclass(frozen=True)
class Connected:
    protocol: str = ""
    version: str = ""


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...] = ()
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True)
class Media:
    payload: bytes
    track: str = "inbound"
    chunk: int = 0
    timestamp: int = 0


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Stop:
    call_sid: str = ""


InboundEvent = Connected | Start | Media | Mark | Dtmf | Stop

_DIGITS = set("0123456789*#ABCD")


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"{name} is not a number: {value!r}") from None


def _obj(message: dict, key: str) -> dict:
    value = message.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"{key!r} is missing or not an object")
    return value


def _check_depth(text: str) -> None:
    # A real frame has a handful of brackets (base64 has none), so counting them in C is all
    # a frame costs. Otherwise, with strings cut out, each pass removes the innermost pairs:
    # what is left after MAX_DEPTH passes is nested deeper (or unbalanced, so not JSON).
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        brackets = _INNERMOST_PAIR.sub("", brackets)
        if not brackets:
            return
    raise ProtocolError(f"message nested more than {MAX_DEPTH} levels deep")


def decode(text: str) -> InboundEvent:
    """One text frame from Twilio as an event. Raises ProtocolError for anything else."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(f"message of {len(text)} characters is over the limit")
    _check_depth(text)
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError("not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    kind = message.get("event")
    if kind == "media":
        media = _obj(message, "media")
        payload = media.get("payload")
        if not isinstance(payload, str):
            raise ProtocolError("media without a payload")
        if len(payload) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
            raise ProtocolError("media payload over the limit")
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("media payload is not base64") from None
        return Media(
            payload=audio,
            track=str(media.get("track", "inbound")),
            chunk=_int(media.get("chunk", 0), "chunk"),
            timestamp=_int(media.get("timestamp", 0), "timestamp"),
        )
    if kind == "start":
        start = _obj(message, "start")
        fmt = start.get("mediaFormat") or {}
        params = start.get("customParameters") or {}
        if not isinstance(fmt, dict) or not isinstance(params, dict):
            raise ProtocolError("start with a malformed mediaFormat or customParameters")
        stream_sid = start.get("streamSid") or message.get("streamSid")
        if not stream_sid or not start.get("callSid"):
            raise ProtocolError("start without streamSid or callSid")
        return Start(
            stream_sid=str(stream_sid),
            call_sid=str(start["callSid"]),
            account_sid=str(start.get("accountSid", "")),
            tracks=tuple(str(t) for t in start.get("tracks") or ()),
            custom_parameters={str(k): str(v) for k, v in params.items()},
            encoding=str(fmt.get("encoding", "audio/x-mulaw")),
            sample_rate=_int(fmt.get("sampleRate", 8000), "sampleRate"),
            channels=_int(fmt.get("channels", 1), "channels"),
        )
    if kind == "mark":
        name = _obj(message, "mark").get("name")
        if not isinstance(name, str):
            raise ProtocolError("mark without a name")
        return Mark(name)
    if kind == "dtmf":
        digit = _obj(message, "dtmf").get("digit")
        if digit not in _DIGITS:
            raise ProtocolError(f"dtmf with an unknown digit {digit!r}")
        return Dtmf(digit)
    if kind == "stop":
        stop = message.get("stop") if isinstance(message.get("stop"), dict) else {}
        return Stop(call_sid=str(stop.get("callSid", "")))
    if kind == "connected":
        return Connected(str(message.get("protocol", "")), str(message.get("version", "")))
    raise ProtocolError(f"unknown event {kind!r}")


def encode_media(stream_sid: str, mulaw: bytes) -> str:
    payload = base64.b64encode(mulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def encode_mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def encode_clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
