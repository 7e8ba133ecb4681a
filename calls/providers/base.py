"""The three provider roles (STT, LLM, TTS) and the types they exchange with the engine.

Every vendor module implements one of these small interfaces and imports its SDK only there.
The engine speaks mu-law 8 kHz (the telephone's own format); a provider states the format it
takes or gives and the engine converts (calls.audio) only when they differ.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple


class ProviderError(Exception):
    """A provider failed. `permanent` says whether retrying the same request can help
    (a 401 is permanent, a refused connection or a 429 is not)."""

    def __init__(self, message: str, *, permanent: bool = False, provider: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.provider = provider


class AudioFormat(NamedTuple):
    encoding: Literal["mulaw", "pcm16"]
    sample_rate: int


MULAW_8K = AudioFormat("mulaw", 8000)
PCM16_8K = AudioFormat("pcm16", 8000)
PCM16_16K = AudioFormat("pcm16", 16000)


# ---------------------------------------------------------------- speech to text


@dataclass(frozen=True)
class Transcript:
    """A piece of recognised speech.

    is_final: this segment's text will not change again.
    speech_final: the recogniser's own endpointing thinks the caller paused here.
    """

    text: str
    is_final: bool
    speech_final: bool = False
    confidence: float | None = None


@dataclass(frozen=True)
class SpeechStarted:
    """The recogniser heard speech begin (used as a barge-in cue next to the local VAD)."""


@dataclass(frozen=True)
class UtteranceEnd:
    """The recogniser saw a gap after the last word (Deepgram's UtteranceEnd)."""


STTEvent = Transcript | SpeechStarted | UtteranceEnd


class STTSession(abc.ABC):
    """One open recognition stream for one call."""

    @abc.abstractmethod
    async def send_audio(self, audio: bytes) -> None:
        """Feed audio in the STT's `input_format` (normally one 20 ms frame)."""

    @abc.abstractmethod
    async def finalize(self) -> None:
        """Ask for the final transcript of what has been heard so far (end of a turn)."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[STTEvent]:
        """Recognition events until the session closes. Raises ProviderError on failure."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the stream; safe to call twice."""

    guesses = False  # whether guess() can give anything
    # Whether every utterance's text ends in . ? or ! when the speaker sounded finished (whisper
    # punctuates from the audio): a text without one is then a sign the caller is not done.
    punctuates = False

    async def guess(self) -> str | None:
        """A per-utterance recogniser's guess at the utterance so far, which stays open: the
        engine asks as soon as the caller pauses, so that a turn which sounds finished can end
        without waiting out the silence. finalize() then answers with the guess, unless
        `forget_guess()` was called since (the caller spoke on). None: no guess to give."""
        return None

    def forget_guess(self) -> None:  # noqa: B027 (a recogniser that never guesses has none)
        """The caller spoke after the last guess: finalize() must transcribe afresh."""


class STT(abc.ABC):
    """Speech to text. `streaming` is False for recognisers that only transcribe a whole
    utterance (the engine then cuts utterances with its VAD and calls finalize())."""

    name: str = "stt"
    input_format: AudioFormat = MULAW_8K
    streaming: bool = True
    # A network service, worth hedging (its fallback started alongside when it is slow to
    # answer). A local one is CPU-bound: a second one started alongside competes for the same
    # cores, and under load the robotic fallback voice would win every sentence.
    remote: bool = True

    @abc.abstractmethod
    async def open(self, *, language: str, hints: list[str] | None = None) -> STTSession:
        """Open a recognition stream. Raises ProviderError when it cannot."""


# ---------------------------------------------------------------- language model


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCalls:
    calls: list[ToolCall]


@dataclass(frozen=True)
class Finished:
    reason: str = "stop"
    usage: dict[str, Any] = field(default_factory=dict)


LLMEvent = TextDelta | ToolCalls | Finished


class LLM(abc.ABC):
    """A chat model that streams text and tool calls.

    `messages` are OpenAI-style chat messages (role system/user/assistant/tool, with
    tool_calls and tool_call_id where they apply): the lingua franca of every vendor here.
    """

    name: str = "llm"
    # A network service, worth hedging (its fallback started alongside when it is slow to
    # answer). A local one is CPU-bound: a second one started alongside competes for the same
    # cores, and under load the robotic fallback voice would win every sentence.
    remote: bool = True

    @abc.abstractmethod
    def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        """Yield TextDelta pieces as they come, at most one ToolCalls (all calls of this
        step, arguments parsed), then Finished. Raises ProviderError on failure."""


# ---------------------------------------------------------------- text to speech


class TTS(abc.ABC):
    """Text to speech, one sentence at a time, audio streamed as it is made."""

    name: str = "tts"
    output_format: AudioFormat = MULAW_8K
    # A network service, worth hedging (its fallback started alongside when it is slow to
    # answer). A local one is CPU-bound: a second one started alongside competes for the same
    # cores, and under load the robotic fallback voice would win every sentence.
    remote: bool = True

    @abc.abstractmethod
    def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        """Yield audio chunks (any size) in `output_format`. Raises ProviderError on failure."""
