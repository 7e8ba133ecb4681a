"""Who speaks first on a call: the agent at once, the callee, or the carrier's verdict.

An inbound call's agent greets at once. An outbound call may wait: for the callee's "Hello?" (or
a few seconds of their silence) before greeting, or for the carrier's answering-machine verdict,
on which a human hears the greeting and a machine the voicemail message (or nothing: the call
hangs up). `Opening` owns that wait and talks back to the session through `OpeningHooks`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from calls.engine.recorder import CallRecorder

CALLEE = "callee"
MACHINE_VERDICT = "machine_verdict"


class OpeningHooks(Protocol):
    """What the opening asks of the session."""

    @property
    def quiet_for(self) -> float:
        """Seconds since the last sign of life on the call."""

    @property
    def caller_busy(self) -> bool:
        """The caller is speaking, or their words are still being made out."""

    def greet(self) -> None:
        """Say the agent's greeting now."""

    async def leave_voicemail(self, text: str) -> None:
        """Say `text` to the answering machine, then hang up."""

    def hang_up_on(self, outcome: str) -> None:
        """Hang up without a word (a machine with no message for it, a fax)."""


class Opening:
    """Owns the wait before the agent's first words (see calls.models.FirstSpeaker)."""

    def __init__(
        self,
        *,
        hooks: OpeningHooks,
        first_speaker: str,
        callee_silence: float,
        verdict_timeout: float,
        voicemail: str,
        recorder: CallRecorder,
        spawn: Callable[[Any, str], asyncio.Task],
    ) -> None:
        self.hooks = hooks
        self.first_speaker = first_speaker
        self.callee_silence = callee_silence
        self.verdict_timeout = verdict_timeout
        self.voicemail = voicemail
        self.recorder = recorder
        self._spawn = spawn
        self._awaiting = ""  # the first speaker the agent still waits for

    @property
    def waiting(self) -> bool:
        """The agent has not spoken yet: it waits for the callee or for the verdict."""
        return bool(self._awaiting)

    def begin(self) -> None:
        """The call is up: greet now, or start waiting for whoever speaks first."""
        if self.first_speaker == CALLEE:
            self._awaiting = CALLEE
            self._spawn(self._greet_after_silence(), "await-callee")
        elif self.first_speaker == MACHINE_VERDICT:
            self._awaiting = MACHINE_VERDICT
            self._spawn(self._greet_unless_verdict(), "await-verdict")
        else:
            self.hooks.greet()

    def callee_spoke(self) -> bool:
        """The callee's side said something (words, keys, unheard speech) while the agent
        waits: True when the agent now answers it with the greeting (the callee's "Hello?"),
        False while it waits for the verdict (a machine's own greeting, perhaps)."""
        if self._awaiting == MACHINE_VERDICT:
            return False
        self._awaiting = ""
        return True

    def stop_waiting(self) -> None:
        """Someone else made the agent speak (staff): the wait is over."""
        self._awaiting = ""

    async def verdict(self, answered_by: str) -> None:
        """The carrier's answering-machine verdict (as Twilio's AnsweredBy)."""
        if self._awaiting != MACHINE_VERDICT:
            return  # late: the agent already spoke
        self._awaiting = ""
        if answered_by in ("human", "unknown"):
            self.hooks.greet()
        elif answered_by.startswith("machine") and self.voicemail:
            await self.hooks.leave_voicemail(self.voicemail)
        else:
            self.hooks.hang_up_on("fax" if answered_by == "fax" else "answering_machine")

    async def _greet_after_silence(self) -> None:
        while self._awaiting == CALLEE:
            await asyncio.sleep(0.1)
            quiet = self.hooks.quiet_for >= self.callee_silence
            if quiet and not self.hooks.caller_busy and self._awaiting == CALLEE:
                self._awaiting = ""
                self.hooks.greet()

    async def _greet_unless_verdict(self) -> None:
        await asyncio.sleep(self.verdict_timeout)
        if self._awaiting == MACHINE_VERDICT:
            self.recorder.event("amd", answered_by="", reason="no verdict in time")
            await self.verdict("unknown")
