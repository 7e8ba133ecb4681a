"""Deciding when the caller has finished their turn.

Two signals: the local VAD (speech started / stopped) and the recogniser (final text, and its
own endpointing flag). A turn ends when the caller is silent and the recogniser has given its
final text, unless that text sounds unfinished (it ends in a digit, as when reading out a phone
number, or in a word like "and"): then the turn waits `hold` more seconds of silence before
ending, so a caller pausing between digit groups is not cut off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_UNFINISHED = re.compile(
    r"(\d[\d\s,.-]*|\b(and|or|but|um+|uh+|er+|so|the|a|my|is|to|of|with|zero|oh|one|two|three|"
    r"four|five|six|seven|eight|nine))\W*$",
    re.IGNORECASE,
)


def sounds_unfinished(text: str) -> bool:
    return bool(_UNFINISHED.search(text.strip()))


@dataclass
class TurnDetector:
    hold: float = 1.6  # extra silence granted to an unfinished-sounding turn
    silence_cap: float = 2.5  # a final text and this much silence end the turn regardless

    speaking: bool = False
    speech_ended_at: float | None = None  # monotonic time the last speech ended
    texts: list[str] = field(default_factory=list)
    awaiting_final: bool = False  # finalize() was asked and its answer has not come
    endpoint: bool = False  # the recogniser thinks the caller paused

    def speech_started(self) -> None:
        self.speaking = True
        self.speech_ended_at = None
        self.endpoint = False

    def speech_stopped(self, at: float) -> None:
        self.speaking = False
        self.speech_ended_at = at

    def final_text(self, text: str, *, speech_final: bool) -> None:
        if text.strip():
            self.texts.append(text.strip())
        self.awaiting_final = False
        self.endpoint = self.endpoint or speech_final

    def utterance_end(self) -> None:
        self.endpoint = True

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    def due(self, now: float) -> bool:
        """Whether the caller's turn is over at `now`."""
        if self.speaking or self.awaiting_final or not self.texts or self.speech_ended_at is None:
            return False
        silent_for = now - self.speech_ended_at
        if silent_for >= self.silence_cap:
            return True
        if not self.endpoint:
            return False
        return not sounds_unfinished(self.text) or silent_for >= self.hold

    def take(self) -> str:
        text = self.text
        self.texts.clear()
        self.endpoint = False
        return text
