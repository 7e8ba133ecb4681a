"""The caller speaking over the agent: an interruption, or only "mhm"?

`BargeIn` owns the moment the caller's voice overlaps the agent's. Speech over the agent holds
the agent's audio back at once (within the VAD's 200 ms) and keeps what was not heard; the
caller's words then decide: a backchannel ("mhm", "yeah", "okay") or speech with no words lets
the agent go on where playback stopped, anything else (or speech still going on after
`INTERRUPT_AFTER`) is an interruption: the answer in flight is cancelled, the carrier told to
drop its audio, and only what the caller actually heard is kept in the transcript and the
recording. It talks back to the session through `BargeInHooks`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from calls.engine.hearing import Timing
from calls.engine.playout import Playout
from calls.engine.recorder import CallAudio, CallRecorder
from calls.engine.response import Responder

# Caller speech over the agent holds the agent's audio back at once; speech still going on this
# long after that is an interruption, whatever its words. A shorter utterance is decided by its
# words: a backchannel ("mhm", "yeah", "okay", "right") lets the agent go on where it stopped.
INTERRUPT_AFTER = 0.8
BACKCHANNELS = frozenset(
    "mhm mm mmhmm mmm hmm uh-huh uhhuh uh huh um yeah yep yes yup ok okay right sure alright "
    "aha ah oh i see got it cool great fine good".split()
)


def is_backchannel(text: str) -> bool:
    """A few words that only say "I'm listening"."""
    words = re.sub(r"[^\w\s'-]", " ", text.lower()).replace("mm-hmm", "mmhmm").split()
    return 0 < len(words) <= 3 and all(word in BACKCHANNELS for word in words)


class BargeInHooks(Protocol):
    """What barge-in asks of the session."""

    @property
    def closing(self) -> bool:
        """The call is ending: no interruption starts any more."""

    @property
    def caller_speaking(self) -> bool:
        """The caller is speaking right now (the VAD is sure)."""

    def answer(self, text: str, timing: Timing) -> None:
        """Answer the caller's words (the agent has stopped for them)."""


class BargeIn:
    """Owns caller speech over the agent's: holding the agent's audio back, deciding between a
    backchannel and an interruption, and stopping the agent (keeping what was heard)."""

    def __init__(
        self,
        *,
        hooks: BargeInHooks,
        responder: Responder,
        playout: Playout,
        audio: CallAudio,
        recorder: CallRecorder,
        spawn: Callable[[Any, str], asyncio.Task],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hooks = hooks
        self.responder = responder
        self.playout = playout
        self.audio = audio
        self.recorder = recorder
        self.clock = clock
        self._spawn = spawn
        self._held_at: float | None = None  # the agent's audio is held back for the caller
        self._hold_timer: asyncio.TimerHandle | None = None

    @property
    def holding(self) -> bool:
        """The agent's audio is held back while the caller's words decide."""
        return self._held_at is not None

    # ------------------------------------------------------------------ the caller's voice
    async def caller_started(self) -> None:
        """The caller began to speak: hold the agent's audio back (or, with nothing left to
        hear, let the caller take the turn at once)."""
        if self._held_at is not None or not self.responder.active:
            return
        if not self.playout.speaking:  # nothing left to hear: the caller takes the turn
            await self.interrupt(cause="speech")
            return
        # Hold the agent's audio back at once (an interruption stops it within the VAD's
        # 200 ms); the caller's words decide whether it goes on.
        now = self.clock()
        await self.playout.pause()
        self.audio.cut_agent(now)
        self._held_at = now
        self._hold_timer = asyncio.get_running_loop().call_later(
            INTERRUPT_AFTER, self._still_talking
        )

    def _still_talking(self) -> None:
        self._hold_timer = None
        if self._held_at is not None and self.hooks.caller_speaking and not self.hooks.closing:
            self._spawn(self.interrupt(cause="speech"), "barge-in")

    def caller_said(self, text: str, timing: Timing) -> bool:
        """The caller's turn, if it came over the agent's voice: a backchannel lets the agent
        go on, anything else interrupts it and is answered. False when the agent was not held
        back for it (the session answers as usual)."""
        if self._held_at is None:
            return False
        if is_backchannel(text):
            self.recorder.event("backchannel", text=text)
            self.resume()
            return True
        self._spawn(self._interrupted_by(text, timing), "barge-in")
        return True

    async def _interrupted_by(self, text: str, timing: Timing) -> None:
        await self.interrupt(cause="speech")
        self.hooks.answer(text, timing)

    def resume(self) -> bool:
        """It was not an interruption: the agent goes on where playback stopped. False when
        nothing was held back."""
        if self.release() is None:
            return False
        self.playout.resume()
        return True

    def release(self) -> float | None:
        """Stop holding the agent's audio back; returns when the hold began (None: no hold)."""
        held_at, self._held_at = self._held_at, None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        return held_at

    # ------------------------------------------------------------------ stopping the agent
    async def interrupt(self, *, cause: str) -> None:
        """The caller takes the turn (`cause`: "speech" or "dtmf"): cancel the answer in
        flight, drop the audio not yet heard, and record what the caller heard."""
        held_at = self.release()
        await self.responder.cancel()
        cut = await self.responder.cut_off(held_at)
        self.recorder.event("barge_in", cause=cause, heard=cut.heard, cut=cut.texts)

    async def stop_agent(self) -> None:
        """Silence the agent now (the call is being hung up), keeping what was heard."""
        held_at = self.release()
        await self.responder.cancel()
        if held_at is not None or self.playout.busy or self.responder.turn_open:
            await self.responder.cut_off(held_at)
