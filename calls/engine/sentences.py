"""Cutting a model's streamed text into sentences, so the first can be spoken while the
model is still writing the next."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (or …) followed by a space; not after a lone initial or a common
# abbreviation ("Dr. Smith"), and not inside a number ("3.50").
_END = re.compile(r"[.!?…]+[\"')\]]*\s")
_ABBREVIATIONS = {
    *("mr", "mrs", "ms", "dr", "st", "no", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "approx"),
    *("mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"),
    *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
}
_MARKUP = re.compile(r"[*_#`]+")
_LONG = 160  # a clause this long is spoken at its last comma rather than waited on


def clean_for_speech(text: str) -> str:
    """Drop the markdown a chat model likes to write; it would be read out."""
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


class SentenceSplitter:
    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        sentences = []
        start = 0
        for match in _END.finditer(self._buffer):
            candidate = self._buffer[start : match.end()]
            last_word = candidate.rstrip().rstrip(".!?…\"')]").rsplit(" ", 1)[-1].lower()
            if candidate.rstrip().endswith(".") and (
                last_word in _ABBREVIATIONS or len(last_word) == 1
            ):
                continue
            sentences.append(candidate)
            start = match.end()
        self._buffer = self._buffer[start:]
        if len(self._buffer) > _LONG and "," in self._buffer:
            cut = self._buffer.rfind(",") + 1
            sentences.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
        return [s for s in (clean_for_speech(s) for s in sentences) if s]

    def flush(self) -> list[str]:
        rest, self._buffer = clean_for_speech(self._buffer), ""
        return [rest] if rest else []
