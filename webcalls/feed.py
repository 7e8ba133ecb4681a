"""The live transcript: a call recorder that also tells the page what it writes."""

from __future__ import annotations

from collections.abc import Callable

from calls.engine.recorder import CallRecorder, TurnRecord
from webcalls import protocol

# Events the page shows beside the transcript (the rest stay in the call's record).
SHOWN_EVENTS = frozenset(
    {"barge_in", "backchannel", "unheard", "tool_call", "fallback", "error", "silence", "dtmf"}
)


class FeedRecorder(CallRecorder):
    """Writes the call's records as any call's recorder does, and hands each transcript line
    and shown event to `tell` (a non-blocking send to the page) as it is written."""

    def __init__(self, call_id: int, tell: Callable[[str], None], **options) -> None:
        super().__init__(call_id, **options)
        self.tell = tell

    def save_turn(self, record: TurnRecord) -> None:
        super().save_turn(record)
        self.tell(protocol.encode_turn(record))

    def event(self, kind: str, **data) -> None:
        super().event(kind, **data)
        if kind in SHOWN_EVENTS:
            self.tell(protocol.encode_event(kind, data))
