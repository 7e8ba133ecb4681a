"""Hearing the caller: the VAD, the recogniser, the turn model and the end of each turn.

`Hearing` owns everything between the caller's audio and "the caller said X": it feeds the VAD,
streams (or, for a per-utterance recogniser, cuts and finalizes) the audio into the recogniser,
asks the semantic turn model whether an utterance sounds finished, and decides when the turn is
over (calls.engine.turns). It talks back to the session through `HearingHooks`, in the manner of
LiveKit's audio recognition: the session coordinates; it does not also hear.

Nothing the caller says is lost: every stretch of speech the VAD detects ends either in a turn
with text or, when the recogniser heard no words in it, in `caller_unheard` (so the agent can
ask again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.utils import timezone

from calls.audio import ulaw_decode
from calls.engine.speech import Listener
from calls.engine.turns import TurnDetector
from calls.providers.base import ProviderError, SpeechStarted, STTEvent, Transcript, UtteranceEnd
from calls.vad import SpeechEnd, SpeechStart, VoiceActivityDetector

log = logging.getLogger(__name__)

# Speech must last 200 ms to count (so a cough is no barge-in); 240 ms of quiet ends it.
VAD_OPTIONS = {"start_ms": 200, "stop_ms": 240}
PREROLL_FRAMES = 20  # 400 ms kept before the VAD is sure speech began
TURN_AUDIO_BYTES = 8 * 8000 * 2  # the turn model listens to the last 8 s (PCM16, 8 kHz)
UNHEARD_WAIT = 2.5  # a streaming recogniser gets this long after speech ends to say a word
EARLY_PAUSE_MS = 100  # a turn that sounds finished may end after this much of a pause

TurnModel = Callable[[bytes], Awaitable[float]]


@dataclass
class Timing:
    """A caller turn's clock: every mark is milliseconds after the caller stopped speaking."""

    speech_end: float
    started_at: datetime | None = None  # wall time the caller began this turn
    marks: dict[str, int] = field(default_factory=dict)
    decision: dict[str, Any] = field(default_factory=dict)  # which signal ended the turn

    def mark(self, name: str, at: float) -> None:
        self.marks.setdefault(name, max(0, round((at - self.speech_end) * 1000)))

    def as_dict(self) -> dict[str, Any]:
        return {**self.marks, **self.decision}


class HearingHooks(Protocol):
    """What hearing tells the session."""

    async def caller_started(self) -> None:
        """The caller began to speak (the VAD is sure): the agent may have to stop."""

    def caller_active(self) -> None:
        """The caller did something (speech began or ended): silence starts over."""

    def caller_turn(self, text: str, timing: Timing) -> None:
        """The caller's turn is over: this is what they said."""

    def caller_unheard(self, seconds: float, reason: str) -> None:
        """The caller spoke for `seconds`, but no words came of it."""

    def agent_asked(self) -> bool:
        """The agent's last words, as far as the caller heard them, were a question."""


class Hearing:
    """Owns hearing the caller: the VAD, the recogniser (with its pre-roll), the turn model and
    the end of each turn; reports to the session through `HearingHooks`."""

    def __init__(
        self,
        *,
        hooks: HearingHooks,
        vad: VoiceActivityDetector,
        listener_factory: Callable[[Hearing], Listener],
        spawn: Callable[[Any, str], asyncio.Task],
        turn_model: TurnModel | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hooks = hooks
        self.vad = vad
        self.clock = clock
        self.turn_model = turn_model
        self.detector = TurnDetector()
        self.listener = listener_factory(self)
        self._spawn = spawn
        self._stream_ms = 0
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._recent_pcm: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._turn_audio = bytearray()  # PCM16 of the turn so far, for the turn model
        self._utterance_open = False  # a per-utterance recogniser is being fed this utterance
        self._utterance_start_ms = 0
        # Utterances (start, end in stream ms) whose final text is awaited, oldest first.
        self._unanswered: deque[tuple[int, int]] = deque()
        self._unheard_seconds = 0.0  # speech that came back as no words, this turn
        self._words_heard = 0  # finals with words, ever (a streaming recogniser's progress)
        self._started_at: datetime | None = None
        self._timing: Timing | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._score_generation = 0
        self._final_heard = asyncio.Event()
        # A pause in the caller's speech (stream ms it began), before the VAD is sure it is the
        # end; the recogniser's guess and the turn model's score of the speech before it.
        self._pause_from: int | None = None
        self._guess_generation = 0
        self._guessed: tuple[str, float] | None = None
        self._guessing = False
        self._score_awaits: int | None = None  # the guess whose score the turn waits for
        self._closed = False

    # ------------------------------------------------------------------ state for the session
    @property
    def busy(self) -> bool:
        """The caller is speaking, or their words are still being made out."""
        return self.vad.speaking or bool(self.detector.texts) or self.detector.awaiting_final

    @property
    def speaking(self) -> bool:
        return self.vad.speaking

    # ------------------------------------------------------------------ audio in
    async def on_audio(self, mulaw: bytes) -> None:
        pcm = ulaw_decode(mulaw)
        self._stream_ms += len(mulaw) // 8
        vad_event = await self.vad.hear(pcm)  # scored with the other calls' windows
        if self._started_at is not None:
            self._keep_turn_audio(pcm)
        else:
            self._recent_pcm.append(pcm)
        streaming = self.listener.streaming
        if streaming:
            await self.listener.send(mulaw)
        else:
            self._preroll.append(mulaw)
        if isinstance(vad_event, SpeechStart):
            await self._speech_started(vad_event.at_ms)
            if not self.listener.streaming:
                self._utterance_open = True
                for frame in self._preroll:
                    await self.listener.send(frame)
                self._preroll.clear()
        elif self._utterance_open and not streaming:
            await self.listener.send(mulaw)
            self._preroll.clear()
        if isinstance(vad_event, SpeechEnd):
            self._vad_ended(vad_event.at_ms)
        elif self._utterance_open and not streaming and self.vad.speaking:
            self._follow_pause()

    def _keep_turn_audio(self, pcm: bytes) -> None:
        self._turn_audio += pcm
        if len(self._turn_audio) > TURN_AUDIO_BYTES:
            del self._turn_audio[: len(self._turn_audio) - TURN_AUDIO_BYTES]

    async def _speech_started(self, at_ms: int) -> None:
        if self._started_at is None:
            self._started_at = timezone.now()
            self._turn_audio = bytearray(b"".join(self._recent_pcm))
            self._recent_pcm.clear()
            self.detector.after_question = self.hooks.agent_asked()
            self.detector.punctuated = self.listener.punctuates
        self._utterance_start_ms = at_ms
        self._score_generation += 1
        self.detector.speech_started()
        self.hooks.caller_active()
        await self.hooks.caller_started()

    def _speech_stopped(
        self,
        at_ms: int,
        *,
        score: float | None = None,
        paused_ms: int | None = None,
        awaiting_score: bool = False,
    ) -> None:
        """The utterance is over: the VAD is sure, or (`score`) the turn model and the
        recogniser's guess called it finished `paused_ms` into the pause."""
        now = self.clock()
        ended = now - max(0, self._stream_ms - at_ms) / 1000
        self._timing = Timing(ended, self._started_at)
        self._timing.mark("endpoint", now)  # when the VAD (or the guess) was sure speech ended
        if paused_ms is not None:
            self._timing.decision["turn_early_ms"] = paused_ms
        self.hooks.caller_active()
        self.detector.speech_stopped(ended)
        if self.listener.streaming:
            self._watch_for_words(max(0.0, (at_ms - self._utterance_start_ms) / 1000))
        else:
            self._expect_final((self._utterance_start_ms, at_ms))
            # A per-utterance recogniser may take a while to answer finalize(): the audio loop
            # must not wait for it.
            self._spawn(self.listener.finalize(), "finalize")
        if score is not None:
            self.detector.scored(score)
        elif awaiting_score:
            self.detector.scoring = True
        else:
            self._score_turn()
        self._check_turn()

    # ------------------------------------------------------------------ ending early
    def _follow_pause(self) -> None:
        """While the VAD still counts the silence out, a per-utterance recogniser guesses at
        the words and the turn model listens: a turn both call finished (and the text rules do
        not hold) ends without waiting for the VAD; if the caller goes on, the guess is void."""
        if not self.vad.pausing:
            if self._pause_from is not None:
                self._pause_from, self._guessed = None, None
                self._guess_generation += 1
                self.listener.forget_guess()
            return
        if self._pause_from is None:
            self._pause_from = self._stream_ms
            self._guess_generation += 1
            self._start_guess()
        self._end_early()

    def _start_guess(self) -> None:
        # One guess at a time: a recogniser on the CPU would otherwise queue guesses at every
        # dip between words, and the final transcript behind them.
        if self.listener.guesses and not self._guessing:
            self._guessing = True
            self._spawn(self._guess(self._guess_generation), "guess")

    async def _guess(self, generation: int) -> None:
        speech = self._score_generation
        try:
            audio = bytes(self._turn_audio)
            text, score = await asyncio.gather(self.listener.guess(), self._model_score(audio))
        finally:
            self._guessing = False
        if generation != self._guess_generation or speech != self._score_generation:
            if self._pause_from is not None:  # a newer pause began while this one was made
                self._start_guess()
            elif self._score_awaits is not None:  # the VAD ended that one: score it anew
                self._score_awaits = None
                self._score_turn()
        elif self._score_awaits == generation:  # the VAD ended the utterance meanwhile
            self._score_awaits = None
            self.detector.scored(score)
            self._check_turn()
        elif text and score is not None:
            self._guessed = (text, score)
            self._end_early()

    def _vad_ended(self, at_ms: int) -> None:
        """The VAD is sure the utterance is over. The turn model's score of it is the guess's,
        when a guess was made in this pause (done, or still being made): not scored twice."""
        guessed, guessing = self._guessed, self._guessing and self._pause_from is not None
        self._pause_from, self._guessed = None, None
        if guessed is not None:
            self._speech_stopped(at_ms, score=guessed[1])
        elif guessing and self.turn_model is not None:
            self._score_awaits = self._guess_generation
            self._speech_stopped(at_ms, awaiting_score=True)
        else:
            self._speech_stopped(at_ms)

    def _end_early(self) -> None:
        if self._guessed is None or self._pause_from is None:
            return
        text, score = self._guessed
        paused_ms = self._stream_ms - self._pause_from
        said = " ".join([*self.detector.texts, text])
        if paused_ms < EARLY_PAUSE_MS or self.detector.unfinished(said):
            return
        if not self.detector.ends_at_once(said, score):
            return
        end = self.vad.end_speech()
        self._pause_from, self._guessed = None, None
        if end is not None:
            self._speech_stopped(end.at_ms, score=score, paused_ms=paused_ms)

    # ------------------------------------------------------------------ the turn model
    def _score_turn(self) -> None:
        if self.turn_model is None:
            return
        self.detector.scoring = True
        generation = self._score_generation
        audio = bytes(self._turn_audio)
        self._spawn(self._scored(generation, audio), "turn-model")

    async def _model_score(self, audio: bytes) -> float | None:
        """The turn model's score of `audio`; None when it has none to give."""
        if self.turn_model is None:
            return None
        try:
            return await self.turn_model(audio)
        except ProviderError:  # logged once by the model; turns end on the VAD and text alone
            self.turn_model = None
            return None

    async def _scored(self, generation: int, audio: bytes) -> None:
        score = await self._model_score(audio)
        if generation == self._score_generation:  # not overtaken by more speech
            self.detector.scored(score)
            self._check_turn()

    # ------------------------------------------------------------------ the recogniser
    async def on_stt_event(self, event: STTEvent) -> None:
        if isinstance(event, Transcript):
            if event.is_final:
                self._final(event.text, speech_final=event.speech_final)
        elif isinstance(event, UtteranceEnd):
            self.detector.utterance_end()
        elif isinstance(event, SpeechStarted):
            self.hooks.caller_active()
        self._check_turn()

    def _final(self, text: str, *, speech_final: bool) -> None:
        start_ms, end_ms = self._unanswered.popleft() if self._unanswered else (0, 0)
        seconds = max(0.0, (end_ms - start_ms) / 1000)
        self.detector.final_text(text, speech_final=speech_final)
        self._final_heard.set()
        if text.strip():
            self._words_heard += 1
        else:
            self._unheard_seconds += seconds
        if self._timing is not None:
            self._timing.mark("stt_final", self.clock())
        self._report_unheard()
        if self.detector.texts and self._unanswered:
            # Speech that came faster than real time (a burst): the next utterance still owed
            # began after a silence, on the stream's own clock, that had ended this turn.
            gap = (self._unanswered[0][0] - end_ms) / 1000
            unfinished = self.detector.unfinished(self.detector.text)
            if gap >= (self.detector.hold if unfinished else self.detector.unsure_wait):
                self.detector.decision = {"turn_signal": "stream_gap"}
                self._take_turn(Timing(self.clock(), self._started_at))

    def _report_unheard(self) -> None:
        """Speech that came back as no words, once nothing else of the turn is awaited."""
        if self._unheard_seconds <= 0 or self.detector.texts or self.busy or self._closed:
            return
        seconds, self._unheard_seconds = self._unheard_seconds, 0.0
        self._end_turn()
        self.hooks.caller_unheard(round(seconds, 2), "no_text")

    def _watch_for_words(self, seconds: float) -> None:
        """A streaming recogniser answers on its own schedule: if no word has come some time
        after the speech ended, the speech went unheard."""
        heard_before = self._words_heard

        def check() -> None:
            if self._words_heard == heard_before and not self.vad.speaking:
                self._unheard_seconds += seconds
                self._report_unheard()

        self._timers.append(asyncio.get_running_loop().call_later(UNHEARD_WAIT, check))

    async def on_stt_switch(self) -> None:
        """The recogniser was replaced mid-call. What the failed one still owed will never
        come; what it had not finalized was replayed into the new one, which a per-utterance
        recogniser must be asked to transcribe."""
        self.detector.pending_finals = 0
        self._unanswered.clear()
        if self.listener.streaming:
            return
        if self.vad.speaking:
            self._utterance_open = True  # the rest of this utterance goes to the new one too
        else:
            self._expect_final((self._utterance_start_ms, self._stream_ms))
            await self.listener.finalize()

    def _expect_final(self, utterance: tuple[int, int]) -> None:
        """The utterance (start, end in stream ms) is over for the recogniser: its final text
        is now awaited."""
        self._utterance_open = False
        self._unanswered.append(utterance)
        self.detector.expect_final()
        self._final_heard.clear()

    # ------------------------------------------------------------------ the end of the turn
    def _check_turn(self) -> None:
        now = self.clock()
        detector = self.detector
        if self.vad.maybe_speaking and detector.texts:
            # The caller may be going on (the VAD is not sure yet): look again shortly.
            self._timers.append(asyncio.get_running_loop().call_later(0.05, self._check_turn))
            return
        if detector.due(now):
            self._take_turn(self._timing or Timing(now, self._started_at))
            return
        if detector.speech_ended_at is not None and detector.texts:
            # Look again when the model's wait, the hold or the silence cap runs out.
            loop = asyncio.get_running_loop()
            waits = (detector.model_wait, detector.unsure_wait, detector.hold, detector.silence_cap)
            for wait in waits:
                delay = detector.speech_ended_at + wait - now
                if delay > 0:
                    self._timers.append(loop.call_later(delay + 0.005, self._check_turn))
            self._timers = [t for t in self._timers if not t.cancelled()][-8:]

    def _take_turn(self, timing: Timing) -> None:
        text = self.detector.take()
        timing.mark("turn_end", self.clock())
        timing.decision = {**timing.decision, **self.detector.decision}
        self._unheard_seconds = 0.0
        self._end_turn()
        self.hooks.caller_turn(text, timing)

    def _end_turn(self) -> None:
        self._started_at = None
        self._turn_audio = bytearray()

    def take_unanswered(self) -> tuple[str, Timing | None]:
        """The caller's last words, never answered (the call is ending)."""
        text = self.detector.take() if self.detector.texts else ""
        return text, self._timing

    # ------------------------------------------------------------------ ending
    async def last_words(self, wait: float = 2.0) -> None:
        """A caller who hangs up mid-sentence still gets their words in the transcript: ask the
        recogniser for what it has, and wait for every utterance it still owes (a burst of
        speech leaves several), a little longer for each."""
        if self._utterance_open or self.vad.speaking:
            self._expect_final((self._utterance_start_ms, self._stream_ms))
            await self.listener.finalize()
        if not self.detector.awaiting_final:
            return
        deadline = self.clock() + min(10.0, wait + 1.5 * (self.detector.pending_finals - 1))
        while self.detector.awaiting_final and (left := deadline - self.clock()) > 0:
            self._final_heard.clear()
            try:
                async with asyncio.timeout(left):
                    await self._final_heard.wait()
            except TimeoutError:
                break

    async def close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        await self.listener.close()
        self.vad.close()
