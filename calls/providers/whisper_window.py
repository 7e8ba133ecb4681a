"""Whisper on a shorter window (WHISPER_WINDOW_SECONDS, 15 s by default): a phone utterance in
about a third of the CPU.

Whisper's encoder always reads a 30 s window of audio, padded with silence; that padding is most
of what an utterance of a few seconds costs. The CTranslate2 encoder accepts a shorter window:
with 15 s (1500 mel frames) an utterance costs ~90 ms instead of ~260 on this machine's two
cores, and phone speech is heard as well, menu words included (`python -m bench.whisper_window`
measures both). Shorter windows make whisper repeat itself ("Sure. Sure. Sure."), more so with a
prompt: a transcript that repeats one sentence back to back is taken once. They also raise the
no-speech score of a lone short answer ("Yes."), which calls.providers.local_stt allows for.

Utterances too long for the window go through faster-whisper's own path (30 s windows, several
if need be): the caller talked for a long time, and ending their turn early matters less.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

SAMPLE_RATE = 16000
FULL_SECONDS = 30  # whisper's own window
_FRAMES_PER_SECOND = 100  # 10 ms mel frames
_ROOM_SECONDS = 1.0  # an utterance must leave this much of the window silent
_MAX_PROMPT_TOKENS = 223  # whisper's own limit: half its 448-token context, less one
# Tokens allowed per second of audio: speech runs ~3-4 a second; a loop is cut off sooner.
_TOKENS_BASE, _TOKENS_PER_SECOND = 16, 8
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")  # not inside "5.30"
_ENDS = re.compile(r"[.?!]$")


@dataclass(frozen=True)
class Heard:
    text: str
    no_speech_prob: float
    compression_ratio: float
    avg_logprob: float  # per token, as whisper's own skip rule reads it


def fits(samples: np.ndarray, seconds: int) -> bool:
    """Whether `samples` (16 kHz) fit a window of `seconds` shorter than whisper's own."""
    return seconds < FULL_SECONDS and samples.size <= (seconds - _ROOM_SECONDS) * SAMPLE_RATE


def transcribe(model: WhisperModel, samples: np.ndarray, prompt: str | None, seconds: int) -> Heard:
    """`samples` (float32, 16 kHz, short enough to `fit`) heard in one window of `seconds`:
    greedy, no timestamps, the prompt as whisper's previous text."""
    import ctranslate2

    frames = seconds * _FRAMES_PER_SECOND
    features = model.feature_extractor(samples)[:, :frames]
    window = np.zeros((features.shape[0], frames), np.float32)
    window[:, : features.shape[1]] = features
    encoded = model.model.encode(ctranslate2.StorageView.from_array(window[None]), to_cpu=False)
    tokenizer = _tokenizer(model)
    tokens = [*_prompt_tokens(model, prompt), *tokenizer.sot_sequence, tokenizer.no_timestamps]
    spoken = samples.size / SAMPLE_RATE
    result = model.model.generate(
        encoded,
        [tokens],
        beam_size=1,
        max_length=len(tokens) + int(_TOKENS_BASE + _TOKENS_PER_SECOND * spoken),
        return_no_speech_prob=True,
        return_scores=True,
        suppress_blank=True,
        suppress_tokens=_suppressed(model),
    )[0]
    ids = result.sequences_ids[0]
    text = once(tokenizer.decode(ids).strip())
    # CTranslate2's score is the length-normalised log-prob; faster-whisper counts the end token.
    avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)
    return Heard(text, result.no_speech_prob, compression_ratio(text), avg_logprob)


def once(text: str) -> str:
    """The text with any sentence repeated back to back said once ("Sure. Sure. Sure.")."""
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if sentence and (not kept or _words(sentence) != _words(kept[-1])):
            kept.append(sentence)
    return " ".join(kept)


def restarts_itself(text: str) -> bool:
    """Whether the text ends in an unfinished start of its own last sentence ("Is there
    parking? Is there"): on a short window whisper sometimes goes on into the silence after a
    sentence with its beginning. A caller may also restart a sentence and pause, so the words
    are not dropped: the utterance is heard again on whisper's own window (local_stt)."""
    *before, last = _SENTENCE_END.split(text.strip())
    if not before or not last or _ENDS.search(last):
        return False
    start, sentence = _words(last).split(), _words(before[-1]).split()
    return 0 < len(start) < len(sentence) and sentence[: len(start)] == start


def compression_ratio(text: str) -> float:
    """How well the text compresses (as whisper measures it): a loop compresses well."""
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _words(sentence: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", sentence.lower())


@cache
def _tokenizer(model: WhisperModel) -> Tokenizer:
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
    )


@cache
def _suppressed(model: WhisperModel) -> tuple[int, ...]:
    from faster_whisper.transcribe import get_suppressed_tokens

    return tuple(get_suppressed_tokens(_tokenizer(model), [-1]))


def _prompt_tokens(model: WhisperModel, prompt: str | None) -> list[int]:
    if not prompt:
        return []
    tokenizer = _tokenizer(model)
    return [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-_MAX_PROMPT_TOKENS:]]
