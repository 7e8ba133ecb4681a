"""The browser call's wire format: what the page may send, and what it is told."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from calls.engine.recorder import TurnRecord
from webcalls import protocol


def test_the_page_echoes_marks_and_presses_keys():
    assert protocol.decode('{"type": "mark", "name": "t0s1"}') == protocol.MarkPlayed("t0s1")
    assert protocol.decode('{"type": "dtmf", "digit": "#"}') == protocol.KeyPressed("#")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "mark"}', "needs a name"),
        ('{"type": "mark", "name": 5}', "needs a name"),
        ('{"type": "mark", "name": "' + "x" * 65 + '"}', "needs a name"),
        ('{"type": "dtmf", "digit": "12"}', "one digit"),
        ('{"type": "dtmf"}', "one digit"),
        ('{"type": "hack"}', "unknown message type 'hack'"),
    ],
)
def test_anything_else_is_refused_with_the_reason(text, why):
    with pytest.raises(protocol.ProtocolError, match=why):
        protocol.decode(text)


def test_a_turn_is_told_with_its_latency_and_timings():
    record = TurnRecord(2, "agent", datetime(2026, 1, 1, tzinfo=UTC), text="9 to 5")
    record.latency_ms, record.timings = 406, {"stt_final": 61, "first_frame_sent": 406}
    assert json.loads(protocol.encode_turn(record)) == {
        "type": "turn",
        "index": 2,
        "speaker": "agent",
        "text": "9 to 5",
        "interrupted": False,
        "latency_ms": 406,
        "timings": {"stt_final": 61, "first_frame_sent": 406},
    }


def test_the_other_messages():
    assert json.loads(protocol.encode_mark("t1s0")) == {"type": "mark", "name": "t1s0"}
    assert json.loads(protocol.encode_clear()) == {"type": "clear"}
    assert json.loads(protocol.encode_call(7, "/admin/calls/call/7/change/")) == {
        "type": "call",
        "call_id": 7,
        "admin_url": "/admin/calls/call/7/change/",
    }
    assert json.loads(protocol.encode_ended("agent_ended", "the agent hung up")) == {
        "type": "ended",
        "outcome": "agent_ended",
        "reason": "the agent hung up",
    }
    event = json.loads(protocol.encode_event("tool_call", {"at": datetime(2026, 1, 1)}))
    assert event == {"type": "event", "kind": "tool_call", "data": {"at": "2026-01-01T00:00:00"}}
