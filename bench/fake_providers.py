"""Providers with fixed, known delays, for the call latency benchmark (bench.call_latency).

Loaded as a provider plugin (PROVIDER_PLUGINS=bench.fake_providers), it registers:

- `bench_stt`: a per-utterance recogniser (streaming=False, mu-law 8 kHz in). finalize() waits
  BENCH_STT_DELAY_MS and then gives a fixed final text, as a batch recogniser (Groq Whisper,
  calls.providers.groq_whisper.WhisperSession) does: the wait happens inside finalize().
- `bench_llm`: waits BENCH_LLM_DELAY_MS before its first token, then streams a two-sentence
  answer of 15 tokens (5 + 6 words) at BENCH_LLM_TOKENS_PER_SEC (the first sentence, 7 tokens,
  is complete 60 ms after the first token at the default 100/s).
- `bench_tts`: waits BENCH_TTS_DELAY_MS before its first chunk, then yields a 440 Hz tone in
  mu-law 8 kHz, MS_PER_CHAR milliseconds per character (or BENCH_TTS_MS_PER_WORD per word when
  set), in 100 ms chunks, with no further delay.

The defaults (STT 100, LLM first token 200, TTS first audio 100 ms, 100 tokens/s, the same
11-word answer) are those of the Pipecat reference server in ../shared/anchors/pipecat, and
bench.call_latency sets BENCH_TTS_MS_PER_WORD=60 as it has, so `bench.call_latency --pipecat`
loads both alike.

The delays come from the environment so the benchmark and the server agree on them; `delays()`
reads them (in seconds). Imported where Django is not configured (the benchmark's own
process), the module registers nothing.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from calls.providers.base import (
    LLM,
    MULAW_8K,
    STT,
    TTS,
    Finished,
    LLMEvent,
    STTEvent,
    STTSession,
    TextDelta,
    ToolSpec,
    Transcript,
)

DEFAULT_DELAYS_MS = {"stt": 100, "llm": 200, "tts": 100}
DEFAULT_TOKENS_PER_SEC = 100
STT_TEXT = "I would like a taro milk tea"
# fmt: off
LLM_TOKENS = (
    "Sure", ",", " one", " taro", " milk", " tea", ".",
    " Would", " you", " like", " boba", " pearls", " with", " that", "?",
)
# fmt: on
MS_PER_CHAR = 60
CHUNK_BYTES = 800  # 100 ms of mu-law at 8 kHz


def delays() -> dict[str, float]:
    """The providers' fixed delays in seconds, by role, from BENCH_<ROLE>_DELAY_MS."""
    return {
        role: float(os.environ.get(f"BENCH_{role.upper()}_DELAY_MS", default)) / 1000
        for role, default in DEFAULT_DELAYS_MS.items()
    }


def first_sentence_seconds() -> float:
    """How long the LLM streams before its first sentence is complete, after the first token
    (part of the providers' time, like the fixed delays)."""
    rate = float(os.environ.get("BENCH_LLM_TOKENS_PER_SEC", DEFAULT_TOKENS_PER_SEC))
    gaps = next(n for n, token in enumerate(LLM_TOKENS) if token.strip() in ".?!")
    return gaps / rate if rate > 0 else 0.0


def _tone(seconds: float = 1.0) -> bytes:
    """A 440 Hz tone at about -12 dBFS, mu-law 8 kHz, a whole number of periods long."""
    import numpy as np

    from calls.audio import ulaw_encode

    periods = max(1, round(seconds * 440))
    samples = round(periods * 8000 / 440)
    t = np.arange(samples) / 8000
    pcm = (0.25 * 32767 * np.sin(2 * math.pi * 440 * t)).astype("<i2")
    return ulaw_encode(pcm.tobytes())


_TONE = _tone()


# ---------------------------------------------------------------- speech to text


class BenchSTTSession(STTSession):
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.frames = 0
        self._results: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self._closed = False

    async def send_audio(self, audio: bytes) -> None:
        self.frames += 1

    async def finalize(self) -> None:
        if self.frames == 0:
            return
        self.frames = 0
        await asyncio.sleep(self.delay)
        self._results.put_nowait(Transcript(STT_TEXT, is_final=True, speech_final=True))

    async def events(self) -> AsyncIterator[STTEvent]:
        while (item := await self._results.get()) is not None:
            yield item

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._results.put_nowait(None)


class BenchSTT(STT):
    name = "bench_stt"
    input_format = MULAW_8K
    streaming = False

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def open(self, *, language: str, hints: list[str] | None = None) -> STTSession:
        return BenchSTTSession(self.delay)


# ---------------------------------------------------------------- language model


class BenchLLM(LLM):
    name = "bench_llm"

    def __init__(self, delay: float, tokens_per_sec: float) -> None:
        self.delay = delay
        self.token_gap = 1 / tokens_per_sec if tokens_per_sec > 0 else 0.0

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        await asyncio.sleep(self.delay)
        for n, token in enumerate(LLM_TOKENS):
            if n and self.token_gap:
                await asyncio.sleep(self.token_gap)
            yield TextDelta(token)
        yield Finished("stop")


# ---------------------------------------------------------------- text to speech


class BenchTTS(TTS):
    name = "bench_tts"
    output_format = MULAW_8K

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        await asyncio.sleep(self.delay)
        per_word = float(os.environ.get("BENCH_TTS_MS_PER_WORD", 0))
        ms = len(text.split()) * per_word if per_word else len(text) * MS_PER_CHAR
        total = max(8, int(ms * 8))
        audio = (_TONE * (total // len(_TONE) + 1))[:total]
        for start in range(0, total, CHUNK_BYTES):
            yield audio[start : start + CHUNK_BYTES]


def _stt(agent, **_):
    return BenchSTT(delays()["stt"])


def _llm(agent, **_):
    rate = float(os.environ.get("BENCH_LLM_TOKENS_PER_SEC", DEFAULT_TOKENS_PER_SEC))
    return BenchLLM(delays()["llm"], rate)


def _tts(agent, **_):
    return BenchTTS(delays()["tts"])


def register() -> None:
    from calls.providers import factory

    factory.register("stt", "bench_stt", _stt)
    factory.register("llm", "bench_llm", _llm)
    factory.register("tts", "bench_tts", _tts)


# Loaded through PROVIDER_PLUGINS, settings are configured by then and the providers register.
# The benchmark's own process (no Django) imports this module only for `delays()`.
if settings.configured:
    register()
