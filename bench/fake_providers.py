"""Providers with fixed, known delays, for the call latency benchmark (bench.call_latency).

Loaded as a provider plugin (PROVIDER_PLUGINS=bench.fake_providers), it registers:

- `bench_stt`: a per-utterance recogniser (streaming=False, mu-law 8 kHz in). finalize() waits
  BENCH_STT_DELAY_MS and then gives a fixed final text, as a batch recogniser (Groq Whisper,
  calls.providers.groq_whisper.WhisperSession) does: the wait happens inside finalize().
- `bench_llm`: waits BENCH_LLM_DELAY_MS before its first token, then streams a two-sentence
  answer in a few deltas with no further delay (the first sentence is complete in the second
  delta, so the first sentence costs exactly the first-token delay).
- `bench_tts`: waits BENCH_TTS_DELAY_MS before its first chunk, then yields a 440 Hz tone in
  mu-law 8 kHz, MS_PER_CHAR milliseconds per character, in 100 ms chunks, with no further delay.

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

DEFAULT_DELAYS_MS = {"stt": 100, "llm": 150, "tts": 80}
STT_TEXT = "I would like a large latte please"
LLM_DELTAS = ("Sure, one large ", "latte coming up. ", "Anything else ", "for you today?")
MS_PER_CHAR = 60
CHUNK_BYTES = 800  # 100 ms of mu-law at 8 kHz


def delays() -> dict[str, float]:
    """The providers' fixed delays in seconds, by role, from BENCH_<ROLE>_DELAY_MS."""
    return {
        role: float(os.environ.get(f"BENCH_{role.upper()}_DELAY_MS", default)) / 1000
        for role, default in DEFAULT_DELAYS_MS.items()
    }


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

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        await asyncio.sleep(self.delay)
        for delta in LLM_DELTAS:
            yield TextDelta(delta)
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
        total = len(text) * MS_PER_CHAR * 8
        audio = (_TONE * (total // len(_TONE) + 1))[:total]
        for start in range(0, total, CHUNK_BYTES):
            yield audio[start : start + CHUNK_BYTES]


def _stt(agent, **_):
    return BenchSTT(delays()["stt"])


def _llm(agent, **_):
    return BenchLLM(delays()["llm"])


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
