"""What a call used of each provider, counted as it happens: the basis of its cost.

The providers wired into a live call (calls.live) are wrapped in meters that add to the call's
`UsageMeter` (its typed per-call state): STT audio seconds sent, LLM tokens in and out (the
provider's own usage report when it gives one, else an estimate, marked `estimated`), TTS
characters sent. Both the primary and a hedged fallback are counted: both are billed.
The meter is written on the Call when the call ends (analytics' end hook prices it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from calls.providers.base import LLM, STT, TTS, Finished, STTEvent, STTSession, TextDelta, ToolSpec

# A rough rule for English with the usual BPE tokenisers, used only when a provider gives no
# usage report (the offline brain, some OpenAI-compatible servers).
CHARS_PER_TOKEN = 4


@dataclass
class UsageMeter:
    """A call's running totals, per role and provider."""

    stt: dict[str, dict[str, Any]] = field(default_factory=dict)
    llm: dict[str, dict[str, Any]] = field(default_factory=dict)
    tts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_audio(self, provider: str, seconds: float) -> None:
        row = self.stt.setdefault(provider, {"audio_seconds": 0.0})
        row["audio_seconds"] += seconds

    def add_tokens(
        self, provider: str, tokens_in: int, tokens_out: int, *, estimated: bool
    ) -> None:
        row = self.llm.setdefault(
            provider, {"input_tokens": 0, "output_tokens": 0, "estimated": False}
        )
        row["input_tokens"] += tokens_in
        row["output_tokens"] += tokens_out
        row["estimated"] = row["estimated"] or estimated

    def add_characters(self, provider: str, characters: int) -> None:
        row = self.tts.setdefault(provider, {"characters": 0})
        row["characters"] += characters

    def as_json(self) -> dict[str, Any]:
        """The meter as stored in Call.usage (audio seconds rounded to the millisecond)."""
        stt = {p: {"audio_seconds": round(r["audio_seconds"], 3)} for p, r in self.stt.items()}
        return {"stt": stt, "llm": dict(self.llm), "tts": dict(self.tts)}


def _bytes_per_second(stt: STT) -> int:
    fmt = stt.input_format
    return fmt.sample_rate * (1 if fmt.encoding == "mulaw" else 2)


class _MeteredSTTSession(STTSession):
    def __init__(self, inner: STTSession, meter: UsageMeter, provider: str, rate: int) -> None:
        self.inner, self.meter, self.provider, self.rate = inner, meter, provider, rate

    async def send_audio(self, audio: bytes) -> None:
        self.meter.add_audio(self.provider, len(audio) / self.rate)
        await self.inner.send_audio(audio)

    async def finalize(self) -> None:
        await self.inner.finalize()

    def events(self) -> AsyncIterator[STTEvent]:
        return self.inner.events()

    async def close(self) -> None:
        await self.inner.close()


class MeteredSTT(STT):
    """An STT that counts the seconds of audio it is sent."""

    def __init__(self, inner: STT, meter: UsageMeter) -> None:
        self.inner, self.meter = inner, meter
        self.name, self.input_format = inner.name, inner.input_format
        self.streaming, self.remote = inner.streaming, inner.remote

    async def open(self, *, language: str, hints: list[str] | None = None) -> STTSession:
        session = await self.inner.open(language=language, hints=hints)
        return _MeteredSTTSession(session, self.meter, self.name, _bytes_per_second(self.inner))

    def __getattr__(self, name: str) -> Any:  # anything else a vendor adapter offers
        return getattr(self.inner, name)


def _tokens(usage: dict[str, Any]) -> tuple[int, int] | None:
    """(in, out) from an OpenAI-style (prompt/completion) or Anthropic-style report."""
    tokens_in = usage.get("prompt_tokens", usage.get("input_tokens"))
    tokens_out = usage.get("completion_tokens", usage.get("output_tokens"))
    if tokens_in is None or tokens_out is None:
        return None
    return int(tokens_in), int(tokens_out)


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)  # rounded up: a short reply is still a token


class MeteredLLM(LLM):
    """An LLM that counts the tokens of each request: the provider's report, else an estimate."""

    def __init__(self, inner: LLM, meter: UsageMeter) -> None:
        self.inner, self.meter = inner, meter
        self.name, self.remote = inner.name, inner.remote

    async def stream(self, messages: list[dict[str, Any]], tools: list[ToolSpec]):
        written: list[str] = []
        reported = None
        try:
            async for event in self.inner.stream(messages, tools):
                if isinstance(event, TextDelta):
                    written.append(event.text)
                elif isinstance(event, Finished):
                    reported = _tokens(event.usage or {})
                yield event
        finally:
            # Counted however the stream ends: a request cut short by a barge-in is billed too.
            if reported is not None:
                self.meter.add_tokens(self.name, *reported, estimated=False)
            else:
                prompt = json.dumps(messages) + json.dumps([t.as_openai() for t in tools])
                self.meter.add_tokens(
                    self.name,
                    estimate_tokens(prompt),
                    estimate_tokens("".join(written)),
                    estimated=True,
                )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class MeteredTTS(TTS):
    """A TTS that counts the characters it is asked to speak (what the vendors bill)."""

    def __init__(self, inner: TTS, meter: UsageMeter) -> None:
        self.inner, self.meter = inner, meter
        self.name, self.output_format, self.remote = inner.name, inner.output_format, inner.remote

    def synthesize(self, text: str, *, voice: str = "", language: str = "en"):
        self.meter.add_characters(self.name, len(text))
        return self.inner.synthesize(text, voice=voice, language=language)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


_WRAPPERS = {"stt": MeteredSTT, "llm": MeteredLLM, "tts": MeteredTTS}


def metered(role: str, provider: Any, meter: UsageMeter) -> Any:
    """`provider` (or None) wrapped in the meter for its role."""
    return None if provider is None else _WRAPPERS[role](provider, meter)
