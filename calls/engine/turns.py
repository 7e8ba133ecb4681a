"""Deciding when the caller has finished their turn.

Three signals: the local VAD (speech started / stopped), the recogniser (final text, and its own
endpointing flag) and, where installed, a semantic turn model that listens to how the caller
sounds (Smart Turn: a falling "...please." is finished, a hanging "I'd like a large, um" is
not). A turn ends when the caller is silent and the recogniser has given its final text, unless
the text sounds unfinished (it ends in a digit, as when reading out a phone number, or in a word
like "and") or the model hears an unfinished sentence: then the turn waits `hold` more seconds
of silence, so a caller pausing mid-sentence or between digit groups is not cut off. The text
rules stay beside the model: it hears intonation, not grammar, and misses digits over the phone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_UNFINISHED = re.compile(
    r"(\d[\d\s,.-]*|\b(and|or|but|um+|uh+|er+|so|the|a|my|is|to|of|with|zero|oh|one|two|three|"
    r"four|five|six|seven|eight|nine))\W*$",
    re.IGNORECASE,
)
COMPLETE = 0.5  # a model score below this: the caller sounds unfinished (wait `hold`)
CONFIDENT = 0.95  # at or above this the turn ends at once; in between, after `unsure_wait`
# An answer of at most this many words to the agent's question ("Yes.", "Two, please.") ends at
# once when the model calls it finished at all: the model is least sure of the shortest turns,
# and a one-word answer to a question is the turn least likely to go on.
SHORT_ANSWER_WORDS = 3


def sounds_unfinished(text: str) -> bool:
    return bool(_UNFINISHED.search(text.strip()))


_ENDS_A_SENTENCE = re.compile(r"[.?!…]['\")\]]*$")


def unpunctuated(text: str) -> bool:
    """The text does not end as a sentence does (., ?, !), as a punctuating recogniser writes
    words it heard as unfinished ("Can you tell me where you")."""
    return not _ENDS_A_SENTENCE.search(text.strip())


def short_answer(text: str) -> bool:
    return 0 < len(text.split()) <= SHORT_ANSWER_WORDS


@dataclass
class TurnDetector:
    hold: float = 1.6  # extra silence granted to an unfinished-sounding turn
    silence_cap: float = 2.5  # a final text and this much silence end the turn regardless
    # Longest the turn waits for the model's score once all else agrees, counted from the end of
    # speech: the recogniser's guess can bring the text before the score (both start as the
    # caller pauses), and a turn decided on the text alone is the one that cuts callers off.
    model_wait: float = 1.0
    unsure_wait: float = 0.9  # silence that ends a turn the model thinks is probably finished

    speaking: bool = False
    speech_ended_at: float | None = None  # monotonic time the last speech ended
    texts: list[str] = field(default_factory=list)
    pending_finals: int = 0  # finalize() asked of the recogniser, its answer not yet come
    endpoint: bool = False  # the recogniser thinks the caller paused
    after_question: bool = False  # the agent's last words, as heard, asked the caller something
    punctuated: bool = False  # the recogniser punctuates (whisper): a text without an end hangs
    scoring: bool = False  # the turn model is listening to the latest utterance
    score: float | None = None  # its verdict on the latest utterance
    decision: dict[str, object] = field(default_factory=dict)  # what ended the last turn

    @property
    def awaiting_final(self) -> bool:
        return self.pending_finals > 0

    def speech_started(self) -> None:
        self.speaking = True
        self.speech_ended_at = None
        self.endpoint = False
        self.scoring = False
        self.score = None

    def speech_stopped(self, at: float) -> None:
        self.speaking = False
        self.speech_ended_at = at

    def expect_final(self) -> None:
        self.pending_finals += 1

    def final_text(self, text: str, *, speech_final: bool) -> None:
        if text.strip():
            self.texts.append(text.strip())
        self.pending_finals = max(0, self.pending_finals - 1)
        self.endpoint = self.endpoint or speech_final

    def utterance_end(self) -> None:
        self.endpoint = True

    def scored(self, score: float | None) -> None:
        """The turn model's verdict on the latest utterance (None: it could not say)."""
        self.scoring = False
        self.score = score

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    def due(self, now: float) -> bool:
        """Whether the caller's turn is over at `now`; if so, `decision` says why."""
        if self.speaking or self.awaiting_final or not self.texts or self.speech_ended_at is None:
            return False
        silent_for = now - self.speech_ended_at
        if silent_for >= self.silence_cap:
            return self._decide("silence_cap")
        if not self.endpoint:
            return False
        if self.unfinished(self.text):
            return silent_for >= self.hold and self._decide("hold", "text")
        if self.scoring and silent_for < self.model_wait:
            return False  # all else says finished: give the model a moment to agree
        if self.score is not None and self.score < COMPLETE:
            return silent_for >= self.hold and self._decide("hold", "model")
        if self.score is not None and self.score < CONFIDENT:
            if self.answers_question(self.text):
                return self._decide("short_answer")
            if self.asks_question(self.text):
                return self._decide("question")
            # Probably finished, but a falling word mid-sentence sounds much the same.
            return silent_for >= self.unsure_wait and self._decide("model_unsure")
        return self._decide("model" if self.score is not None else "text")

    def unfinished(self, text: str) -> bool:
        """The text rules: it hangs (a digit, "and", "um"), or a punctuating recogniser wrote
        it without a sentence's end."""
        return sounds_unfinished(text) or (self.punctuated and unpunctuated(text))

    def answers_question(self, text: str) -> bool:
        """`text` is a short answer to the agent's question ("No.", "Two, please.")."""
        return self.after_question and short_answer(text)

    def asks_question(self, text: str) -> bool:
        """A punctuating recogniser wrote `text` as a whole question ("Is there parking near
        the shop?"): whisper ends with "?" only what it heard asked, intonation and words
        together, never the first half of a sentence cut at a pause."""
        return self.punctuated and text.rstrip().endswith("?")

    def ends_at_once(self, text: str, score: float) -> bool:
        """Whether a turn the text rules let end, with this model score, ends without waiting
        for more silence: the model is confident, or it is a short answer to a question, or
        the caller's own whole question."""
        return score >= CONFIDENT or (
            score >= COMPLETE and (self.answers_question(text) or self.asks_question(text))
        )

    def _decide(self, signal: str, held_for: str = "") -> bool:
        self.decision = {"turn_signal": signal}
        if held_for:
            self.decision["turn_held_for"] = held_for
        if self.score is not None:
            self.decision["turn_score"] = round(self.score, 3)
        return True

    def take(self) -> str:
        text = self.text
        self.texts.clear()
        self.endpoint = False
        return text
