"""The Media Streams serializer, on recorded-shape messages and no socket."""

from __future__ import annotations

import base64
import json

import pytest

from telephony.media_protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    decode,
    encode_clear,
    encode_mark,
    encode_media,
)

START = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    "start": {
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        "accountSid": "AC" + "1" * 32,
        "callSid": "CA" + "2" * 32,
        "tracks": ["inbound"],
        "customParameters": {"call_id": "7", "token": "abc"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}


def test_start():
    event = decode(json.dumps(START))
    assert event == Start(
        stream_sid="MZ18ad3ab5a668481ce02b83e7395059f0",
        call_sid="CA" + "2" * 32,
        account_sid="AC" + "1" * 32,
        tracks=("inbound",),
        custom_parameters={"call_id": "7", "token": "abc"},
    )


def test_media_strings_become_numbers_and_payload_bytes():
    payload = base64.b64encode(b"\xff" * 160).decode()
    message = {
        "event": "media",
        "sequenceNumber": "4",
        "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": payload},
    }
    assert decode(json.dumps(message)) == Media(b"\xff" * 160, "inbound", 2, 5)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"event": "connected", "protocol": "Call", "version": "1.0.0"},
            Connected("Call", "1.0.0"),
        ),
        ({"event": "mark", "streamSid": "MZ1", "mark": {"name": "t1s0"}}, Mark("t1s0")),
        (
            {"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": "7"}},
            Dtmf("7"),
        ),
        (
            {"event": "stop", "streamSid": "MZ1", "stop": {"accountSid": "AC1", "callSid": "CA1"}},
            Stop("CA1"),
        ),
    ],
)
def test_other_events(message, expected):
    assert decode(json.dumps(message)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"event": "hello"}', "unknown event"),
        ('{"event": "media"}', "missing"),
        ('{"event": "media", "media": {"payload": "@@@"}}', "not base64"),
        ('{"event": "media", "media": {"payload": "' + "A" * 40_000 + '"}}', "over the limit"),
        ('{"event": "media", "media": {"payload": "AAAA", "chunk": "x"}}', "not a number"),
        ('{"event": "mark", "mark": {}}', "without a name"),
        ('{"event": "dtmf", "dtmf": {"digit": "11"}}', "unknown digit"),
        ('{"event": "start", "start": {"streamSid": "MZ1"}}', "without streamSid or callSid"),
        ("x" * 70_000, "over the limit"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(text, reason):
    with pytest.raises(ProtocolError, match=reason):
        decode(text)


def test_outbound_messages_are_the_three_twilio_accepts():
    media = json.loads(encode_media("MZ1", b"\x00\x01"))
    assert media == {"event": "media", "streamSid": "MZ1", "media": {"payload": "AAE="}}
    assert json.loads(encode_mark("MZ1", "t0s1")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "t0s1"},
    }
    assert json.loads(encode_clear("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


@pytest.mark.parametrize(
    "text",
    [
        '{"a":' * 10000 + "1" + "}" * 10000,  # would raise RecursionError inside json
        "[" * 20000,
        '{"event": "mark", "mark": {"name": "x"}, "x": ' + "[" * 9 + "]" * 9 + "}",
    ],
)
def test_messages_nested_too_deep_are_refused_before_parsing(text):
    with pytest.raises(ProtocolError, match="nested more than 8 levels"):
        decode(text)


def test_brackets_inside_strings_do_not_count_as_nesting():
    message = {"event": "mark", "mark": {"name": '{[{[{[{[{[ "quoted" \\ ]}'}}
    assert decode(json.dumps(message)) == Mark('{[{[{[{[{[ "quoted" \\ ]}')
    assert decode(json.dumps(START)) == decode(json.dumps(START, indent=2))
