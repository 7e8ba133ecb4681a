"""In-memory stand-ins for the engine's edges, for tests that exercise the session's logic
deterministically: a VAD that hears any non-silent frame, a recogniser that returns scripted
text, a TTS that makes a fixed length of tone per character, a transport that records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from calls.providers.base import (
    MULAW_8K,
    STT,
    TTS,
    ProviderError,
    STTEvent,
    STTSession,
    Transcript,
)
from calls.vad import SpeechEnd, SpeechStart

SILENCE = b"\xff" * 160
VOICE = b"\x10" * 160  # a loud mu-law frame


class EnergyVad:
    """Speech = a frame that is not mu-law silence; start and stop after a few frames."""

    def __init__(self, start_frames: int = 2, stop_frames: int = 3) -> None:
        self.start_frames, self.stop_frames = start_frames, stop_frames
        self.speaking = False
        self._run = 0
        self._ms = 0
        self._last_voice_ms = 0

    def feed(self, pcm16: bytes):
        self._ms += len(pcm16) // 16
        loud = any(pcm16[i] or pcm16[i + 1] for i in range(0, min(len(pcm16), 40), 2))
        if loud:
            self._last_voice_ms = self._ms
        if loud != self.speaking:
            self._run += 1
        else:
            self._run = 0
        if not self.speaking and self._run >= self.start_frames:
            self.speaking, self._run = True, 0
            return SpeechStart(self._ms - self.start_frames * 20)
        if self.speaking and self._run >= self.stop_frames:
            self.speaking, self._run = False, 0
            return SpeechEnd(self._last_voice_ms)
        return None

    async def hear(self, pcm16: bytes):
        return self.feed(pcm16)

    @property
    def maybe_speaking(self) -> bool:
        return not self.speaking and self._run > 0

    @property
    def pausing(self) -> bool:
        return self.speaking and self._run > 0

    def end_speech(self):
        if not self.speaking:
            return None
        self.speaking, self._run = False, 0
        return SpeechEnd(self._last_voice_ms)

    def close(self) -> None:
        """Nothing to let go of."""


class ScriptedSTTSession(STTSession):
    def __init__(self, owner: ScriptedSTT) -> None:
        self.owner = owner
        self.queue: asyncio.Queue = asyncio.Queue()
        self.frames = 0
        self.closed = False

    async def send_audio(self, audio: bytes) -> None:
        self.frames += 1
        self.owner.frames += 1

    @property
    def guesses(self) -> bool:
        return self.owner.guesses is not None

    @property
    def punctuates(self) -> bool:
        return self.owner.punctuates

    async def guess(self) -> str | None:
        await asyncio.sleep(self.owner.delay)
        return self.owner.guesses.pop(0) if self.owner.guesses else None

    def forget_guess(self) -> None:
        self.owner.forgotten += 1

    async def finalize(self) -> None:
        if self.owner.fail_on_finalize:
            self.queue.put_nowait(ProviderError("recogniser died", provider=self.owner.name))
            return
        await asyncio.sleep(self.owner.delay)
        text = self.owner.texts.pop(0) if self.owner.texts else ""
        self.queue.put_nowait(Transcript(text, is_final=True, speech_final=True))

    async def events(self) -> AsyncIterator[STTEvent]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if isinstance(item, ProviderError):
                raise item
            yield item

    async def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


class ScriptedSTT(STT):
    """A per-utterance recogniser whose 'recognition' is the next scripted text, and whose
    guesses during a pause (when `guesses` is given) are the next scripted guess."""

    input_format = MULAW_8K
    streaming = False

    def __init__(
        self,
        texts: list[str],
        *,
        name: str = "scripted-stt",
        delay: float = 0.0,
        guesses: list[str] | None = None,
    ) -> None:
        self.name = name
        self.texts = list(texts)
        self.guesses = None if guesses is None else list(guesses)
        self.forgotten = 0  # guesses the engine said were overtaken by more speech
        self.punctuates = False  # a recogniser that writes . ? ! (as whisper does)
        self.delay = delay
        self.frames = 0
        self.fail_on_finalize = False
        self.sessions: list[ScriptedSTTSession] = []

    async def open(self, *, language: str, hints=None) -> STTSession:
        session = ScriptedSTTSession(self)
        self.sessions.append(session)
        return session


class ToneTTS(TTS):
    """`ms_per_char` milliseconds of a loud tone per character, produced at once."""

    output_format = MULAW_8K

    def __init__(
        self, *, ms_per_char: int = 10, name: str = "tone", fail: bool = False, hang: bool = False
    ) -> None:
        self.name = name
        self.ms_per_char = ms_per_char
        self.fail = fail
        self.hang = hang
        self.spoken: list[str] = []

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail:
            raise ProviderError("tts down", provider=self.name)
        self.spoken.append(text)
        total = len(text) * self.ms_per_char * 8
        for start in range(0, total, 1600):
            yield b"\x20" * min(1600, total - start)


class RecordingTransport:
    """Keeps what the session sent; echoes marks when `auto_marks` (as playback would)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []
        self.hung_up = asyncio.Event()
        self.session = None
        self.auto_marks = True

    async def send_audio(self, mulaw: bytes) -> None:
        self.sent.append(("media", mulaw))

    async def send_mark(self, name: str) -> None:
        self.sent.append(("mark", name))
        if self.auto_marks and self.session is not None:
            # Playback reaches the mark when the audio before it has played.
            playout = self.session.playout
            delay = max(0.0, playout.play_end - playout.clock())
            asyncio.get_running_loop().call_later(
                delay, lambda: asyncio.ensure_future(self.session.on_mark(name))
            )

    async def send_clear(self) -> None:
        self.sent.append(("clear", None))

    async def hang_up(self) -> None:
        self.sent.append(("hangup", None))
        self.hung_up.set()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.sent]

    def audio_seconds(self) -> float:
        return sum(len(d) for k, d in self.sent if k == "media") / 8000
