"""Silence on the line, and the call's length limit.

A caller quiet for the agent's `silence_reprompt` seconds is asked once whether they are still
there; quiet for `silence_hangup`, the agent says goodbye and hangs up; at `max_call_seconds` it
says goodbye whatever is happening. Silence only counts while nobody has anything in hand: not
while the agent waits for the callee, answers or plays audio, nor while the caller speaks or
keys in digits. `SilenceWatch` talks back to the session through `SilenceHooks`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from calls.engine.agent_settings import AgentSettings
from calls.engine.recorder import CallRecorder


class SilenceHooks(Protocol):
    @property
    def ending(self) -> bool:
        """The call is already ending (its goodbye is under way)."""

    @property
    def someone_busy(self) -> bool:
        """Someone has something in hand: the silence does not count."""

    async def say_goodbye(self, outcome: str) -> None:
        """Say the agent's goodbye, then hang up with `outcome`."""

    def reprompt(self) -> None:
        """Ask the caller whether they are still there."""


class SilenceWatch:
    def __init__(
        self,
        *,
        hooks: SilenceHooks,
        agent: AgentSettings,
        recorder: CallRecorder,
        clock: Callable[[], float],
    ) -> None:
        self.hooks, self.agent, self.recorder, self.clock = hooks, agent, recorder, clock
        self.t0 = self._last_activity = clock()
        self._reprompted = False

    @property
    def quiet_for(self) -> float:
        """Seconds since the last sign of life on the call."""
        return self.clock() - self._last_activity

    def activity(self, *, rearm: bool = True) -> None:
        """Something happened on the call: the silence starts over (and, with `rearm`, the
        caller may be asked again after the next long one)."""
        self._last_activity = self.clock()
        if rearm:
            self._reprompted = False

    async def run(self) -> None:
        """Checked once a second, for the life of the call."""
        while True:
            await asyncio.sleep(1.0)
            await self.check()

    async def check(self) -> None:
        if self.hooks.ending:
            return
        if self.clock() - self.t0 >= self.agent.max_call_seconds:
            self.recorder.event("silence", reason="max_call_seconds")
            await self.hooks.say_goodbye("max_duration")
            return
        if self.hooks.someone_busy:
            return
        silent = self.quiet_for
        if silent >= self.agent.silence_hangup:
            self.recorder.event("silence", reason="hang_up", seconds=round(silent, 1))
            await self.hooks.say_goodbye("silence_timeout")
        elif silent >= self.agent.silence_reprompt and not self._reprompted:
            self._reprompted = True
            self.recorder.event("silence", reason="reprompt", seconds=round(silent, 1))
            self.hooks.reprompt()
