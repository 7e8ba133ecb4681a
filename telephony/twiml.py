"""The TwiML we answer calls with (built with the twilio library, never by hand)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from telephony import stream_token
from telephony.signatures import stream_url

MEDIA_PATH = "/telephony/twilio/media/"


def connect_stream(call_id: int, call_sid: str, account_sid: str) -> str:
    """Connect the call to our media socket. Per-call data travels as <Parameter>s: Twilio
    refuses a stream URL with a query string."""
    response = VoiceResponse()
    connect = response.connect()
    stream = connect.stream(url=stream_url(MEDIA_PATH))
    stream.parameter(name="call_id", value=str(call_id))
    stream.parameter(name="call_sid", value=call_sid)
    stream.parameter(name="token", value=stream_token.issue(call_id, account_sid))
    # <Connect> blocks until we close the socket; then the call ends rather than idles.
    response.hangup()
    return str(response)


def not_in_service() -> str:
    response = VoiceResponse()
    response.say("Sorry, this number is not in service. Goodbye.")
    response.hangup()
    return str(response)


LINES_BUSY_MESSAGE = (
    "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye."
)
# A call we placed: the person did not call us, so they are not asked to call back.
LINES_BUSY_OUTBOUND_MESSAGE = "Sorry, all our lines are busy right now. Goodbye."


def lines_busy(*, outbound: bool = False) -> str:
    """What a caller hears when no line is free for the call (admission control)."""
    response = VoiceResponse()
    response.say(LINES_BUSY_OUTBOUND_MESSAGE if outbound else LINES_BUSY_MESSAGE)
    response.hangup()
    return str(response)


def cannot_take_call() -> str:
    """What a caller hears when we cannot answer the call at all (the database is down)."""
    response = VoiceResponse()
    response.say("Sorry, we cannot take your call right now. Please try again later. Goodbye.")
    response.hangup()
    return str(response)


def hang_up() -> str:
    """End a call without a word (an outbound call we no longer want connected)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def dial(number: str, *, caller_id: str = "", ring_seconds: int | None = None) -> str:
    """Connect the call to `number` (a transfer to a person), then hang up when they part."""
    response = VoiceResponse()
    options: dict[str, object] = {}
    if caller_id:
        options["caller_id"] = caller_id
    if ring_seconds:
        options["timeout"] = ring_seconds
    response.dial(number, **options)
    response.hangup()
    return str(response)
