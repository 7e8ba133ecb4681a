"""One call's conversation: the coordinator that owns the call's tasks and its lifecycle.

The parts do the work, each talking back through a small hooks protocol that `CallSession`
implements: `Hearing` (hearing.py) hears the caller and decides when they are done; `Responder`
(response.py) answers through the model, the tools and the speaker; `BargeIn` (barge_in.py)
decides what caller speech over the agent means; `Opening` (opening.py) waits for whoever speaks
first; `Keypad` (keypad.py) gathers digits; `SilenceWatch` (silence.py) re-prompts on silence
and ends the call at its length limit; `CallTasks` (tasks.py) holds the call's tasks. The
session starts and ends the call, takes commands from outside, and cancels every task when the
call ends. It knows nothing of the carrier: audio comes in and goes out through a
CallTransport.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from django.utils import timezone

from calls import hooks
from calls.engine.agent_settings import AgentSettings
from calls.engine.barge_in import BargeIn
from calls.engine.hearing import VAD_OPTIONS, Hearing, Timing, TurnModel
from calls.engine.heartbeat import live_calls
from calls.engine.keypad import Keypad
from calls.engine.opening import Opening
from calls.engine.playout import Playout, TransportClosed
from calls.engine.recorder import CallAudio, CallRecorder
from calls.engine.response import Responder
from calls.engine.silence import SilenceWatch
from calls.engine.speech import Listener, Speaker
from calls.engine.tasks import CallTasks
from calls.providers.base import LLM, ProviderError
from calls.tools import Tool, ToolContext
from calls.vad import VoiceActivityDetector

# AgentSettings and VAD_OPTIONS are imported from here too (bench, the carrier side).
__all__ = ["VAD_OPTIONS", "AgentSettings", "CallSession", "CallTransport", "TransportClosed"]

log = logging.getLogger(__name__)


class CallTransport(Protocol):
    """The carrier side of a call, as the session sees it. Sends raise TransportClosed once the
    socket is gone."""

    async def send_audio(self, mulaw: bytes) -> None: ...
    async def send_mark(self, name: str) -> None: ...
    async def send_clear(self) -> None: ...
    async def hang_up(self) -> None: ...


class CallSession:
    """Coordinates one call: owns its tasks and lifecycle (start, greeting, silence, length
    limit, keypad, control, close) and wires hearing, the responder and barge-in together."""

    def __init__(
        self,
        *,
        call_id: int,
        agent: AgentSettings,
        listener_factory: Callable[[Any], Listener],
        llm: LLM,
        speaker: Speaker,
        tools: list[Tool],
        tool_context: ToolContext,
        transport: CallTransport,
        recorder: CallRecorder | None = None,
        vad: VoiceActivityDetector | None = None,
        turn_model: TurnModel | None = None,
        clock: Callable[[], float] = time.monotonic,
        playout_lead: float = 0.2,
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self.llm = llm
        self.tool_context = tool_context
        self.transport = transport
        self.recorder = recorder or CallRecorder(call_id)
        self.clock = clock
        self.t0 = clock()
        self.outcome = ""
        self.tasks = CallTasks(call_id, self.recorder, on_failure=self._task_failed)
        self._spawn = self.tasks.spawn
        self.silence = SilenceWatch(hooks=self, agent=agent, recorder=self.recorder, clock=clock)
        self._ending = False  # the call ends once the answer in flight has been said
        self._closed = asyncio.Event()
        self._closing = False
        self._closer: asyncio.Task | None = None
        # The parts, each talking back through its hooks (implemented below).
        self.hearing = Hearing(
            hooks=self,
            vad=vad or VoiceActivityDetector(sample_rate=8000, **VAD_OPTIONS),
            listener_factory=listener_factory,
            spawn=self._spawn,
            turn_model=turn_model,
            clock=clock,
        )
        self.playout = Playout(
            self._carrier(transport.send_audio),
            self._carrier(transport.send_mark),
            self._carrier(transport.send_clear),
            lead=playout_lead,
            clock=clock,
        )
        self.audio = CallAudio(self.t0)
        self.playout.on_chunk = self.audio.add_agent
        self.responder = Responder(
            call_id=call_id,
            hooks=self,
            system_prompt=agent.system_prompt,
            goodbye=agent.goodbye,
            llm=llm,
            speaker=speaker,
            tools=tools,
            tool_context=tool_context,
            playout=self.playout,
            audio=self.audio,
            recorder=self.recorder,
            spawn=self._spawn,
            clock=clock,
        )
        self.playout.on_first_audio = self.responder.first_audio_sent
        self.barge_in = BargeIn(
            hooks=self,
            responder=self.responder,
            playout=self.playout,
            audio=self.audio,
            recorder=self.recorder,
            spawn=self._spawn,
            clock=clock,
        )
        self.keypad = Keypad(self)
        self.opening = Opening(
            hooks=self,
            first_speaker=agent.first_speaker,
            callee_silence=agent.callee_silence,
            verdict_timeout=agent.verdict_timeout,
            voicemail=agent.voicemail,
            recorder=self.recorder,
            spawn=self._spawn,
        )

    # ------------------------------------------------------------------ state
    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation the model sees (the responder's)."""
        return self.responder.messages

    @property
    def responding(self) -> bool:
        """The agent is preparing or saying an answer (the model, the tools, the synthesis)."""
        return self.responder.responding

    @property
    def agent_active(self) -> bool:
        """The agent is answering, or its audio is still playing."""
        return self.responder.active

    @property
    def task_count(self) -> int:
        return self.tasks.count

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the recogniser, start the call's tasks and greet the caller."""
        self.recorder.start()
        live_calls.add(self)
        self.recorder.event(
            "started", stt=self.hearing.listener.candidates[0].name, llm=self.llm.name
        )
        self._spawn(self.playout.run(), "playout")
        self._spawn(self.silence.run(), "silence")
        # The greeting does not wait for the recogniser's connection; audio that arrives
        # meanwhile is kept and replayed into it.
        self._spawn(self._open_listener(), "stt-open")
        await hooks.run_start_hooks(self.tool_context)
        if not self._closing:
            self.opening.begin()

    async def _open_listener(self) -> None:
        try:
            await self.hearing.listener.start()
        except ProviderError as error:
            self.recorder.event("error", role="stt", error=str(error))

    async def close(self, outcome: str = "") -> None:
        """End the session: cancel every task, write the last records. Safe to call twice.

        The closing runs in a task of its own that a caller's cancellation does not reach: when
        Daphne gives up on a closed socket (its application close timeout, under load) and
        cancels the consumer, the call still ends with its records and its final status."""
        if self._closer is None:
            self._closing = True
            self.outcome = self.outcome or outcome or "caller_hung_up"
            self._closer = asyncio.create_task(self._close(), name=f"call-{self.call_id}-close")
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        try:
            await self._wind_down()
        finally:
            live_calls.discard(self)
            self._closed.set()

    async def _wind_down(self) -> None:
        await self.hearing.last_words()
        self.keypad.close()
        await self.tasks.cancel_all()  # the answer in flight with the rest (it is one of them)
        await self.hearing.close()
        self.responder.close_turn(interrupted=self.playout.busy)
        text, timing = self.hearing.take_unanswered()
        if text:  # the caller's last words, never answered
            self._save_caller_turn(text, timing.started_at if timing else None, self.clock())
        await hooks.run_end_hooks(self.tool_context, self.outcome)
        self.recorder.event("ended", outcome=self.outcome)
        await self.recorder.close(outcome=self.outcome, audio=self.audio)

    def _carrier(self, send: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """`send`, ending the session (once, through close) when the carrier's socket is gone;
        TransportClosed still reaches the caller so it stops sending."""

        async def guarded(*args) -> None:
            try:
                await send(*args)
            except TransportClosed:
                if not self._closing:
                    self._spawn(self.close("stream_closed"), "close")
                raise

        return guarded

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _task_failed(self) -> None:
        if not self._closing:
            self._spawn(self._hang_up("error"), "hang-up")

    # ------------------------------------------------------------------ input from the carrier
    async def on_audio(self, mulaw: bytes) -> None:
        if self._closing:
            return
        self.audio.add_caller(mulaw)
        await self.hearing.on_audio(mulaw)

    async def on_mark(self, name: str) -> None:
        utterance = self.playout.mark_played(name)
        if utterance is not None and not self.playout.busy:
            self.silence.activity(rearm=False)

    async def on_dtmf(self, digit: str) -> None:
        if self._closing:
            return
        self.recorder.event("dtmf", digit=digit)
        self.silence.activity()
        if self.agent_active:
            await self.barge_in.interrupt(cause="dtmf")
        self.keypad.press(digit)

    def keys_pressed(self, digits: str) -> None:
        if not self._closing:
            now = self.clock()
            self._save_caller_turn(f"(keypad) {' '.join(digits)}", None, now)
            self._start_response(
                user_text=f"The caller pressed the keys: {digits}", timing=Timing(now)
            )

    # ------------------------------------------------------------------ hearing's hooks
    async def caller_started(self) -> None:
        await self.barge_in.caller_started()

    def caller_active(self) -> None:
        self.silence.activity()

    def caller_turn(self, text: str, timing: Timing) -> None:
        self._save_caller_turn(text, timing.started_at, timing.speech_end)
        if self._closing:  # words heard as the call ends are kept, not answered
            return
        if self.barge_in.caller_said(text, timing):  # said over the agent's voice
            return
        self._start_response(user_text=text, timing=timing)

    def agent_asked(self) -> bool:
        last = self.messages[-1] if self.messages else {}
        content = last.get("content")
        return (
            last.get("role") == "assistant"
            and isinstance(content, str)
            and (content.rstrip().endswith("?"))
        )

    def caller_unheard(self, seconds: float, reason: str) -> None:
        """Speech with no words in it: say so in the record, and ask again (or, if it came
        over the agent's voice, let the agent go on)."""
        self.recorder.event("unheard", seconds=seconds, reason=reason)
        if self.barge_in.resume():
            return
        if not self._closing and not self._ending and not self.agent_active:
            self._start_response(say=self.agent.didnt_catch)

    def _save_caller_turn(self, text: str, started_at, speech_end: float) -> None:
        ended_at = timezone.now() - timedelta(seconds=max(0.0, self.clock() - speech_end))
        record = self.recorder.new_turn("caller", started_at or ended_at)
        record.text = text
        record.ended_at = ended_at
        self.recorder.save_turn(record)

    # ------------------------------------------------------------------ barge-in's hooks
    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def caller_speaking(self) -> bool:
        return self.hearing.speaking

    def answer(self, text: str, timing: Timing) -> None:
        self._start_response(user_text=text, timing=timing)

    # ------------------------------------------------------------------ the responder's hooks
    @property
    def ending(self) -> bool:
        return self._ending

    def end_requested(self) -> None:
        self._ending = True
        self.outcome = self.outcome or "agent_ended"

    async def answered(self, resets_silence: bool) -> None:
        if resets_silence:
            self.silence.activity(rearm=False)
        if self._ending:
            await self._hang_up(self.outcome or "agent_ended")

    def _start_response(
        self,
        *,
        user_text: str | None = None,
        say: str | None = None,
        timing: Timing | None = None,
        resets_silence: bool = True,
    ) -> None:
        if self.opening.waiting:  # only the callee's side speaks now: words, keys, or unheard
            if not self.opening.callee_spoke():
                # Heard before the verdict (a machine's own greeting, perhaps): kept, unanswered.
                if user_text is not None:
                    self.responder.keep_unanswered(user_text)
                return
            say = self.agent.greeting  # the callee's "Hello?" is answered with the greeting
        self.responder.start(
            user_text=user_text, say=say, timing=timing, resets_silence=resets_silence
        )

    # ------------------------------------------------------------------ the opening's hooks
    @property
    def quiet_for(self) -> float:
        return self.silence.quiet_for

    @property
    def caller_busy(self) -> bool:
        return self.hearing.busy

    def greet(self) -> None:
        self._start_response(say=self.agent.greeting)

    async def leave_voicemail(self, text: str) -> None:
        await self._say_and_hang_up(text, "voicemail_left")

    def hang_up_on(self, outcome: str) -> None:
        self._spawn(self._hang_up(outcome), "hang-up")

    # ------------------------------------------------------------------ ending
    async def _hang_up(self, outcome: str) -> None:
        self.outcome = self.outcome or outcome
        try:
            async with asyncio.timeout(15):
                await self.playout.drained()
        except TimeoutError:
            pass
        try:
            await self.transport.hang_up()
        finally:
            if not self._closing:
                self._spawn(self.close(self.outcome), "close")

    async def _say_and_hang_up(self, text: str, outcome: str) -> None:
        self.outcome = self.outcome or outcome
        self._ending = True
        self._start_response(say=text)

    # ------------------------------------------------------------------ the silence watch's hooks
    @property
    def someone_busy(self) -> bool:
        return self.opening.waiting or self.agent_active or self.hearing.busy or self.keypad.pending

    async def say_goodbye(self, outcome: str) -> None:
        await self._say_and_hang_up(self.agent.goodbye, outcome)

    def reprompt(self) -> None:
        self._start_response(say=self.agent.reprompt, resets_silence=False)

    # ------------------------------------------------------------------ control
    async def control(self, action: str, **data: Any) -> None:
        """A command from outside the call (staff, a webhook; calls.control.send_control):
        "hang_up" ends the call now (outcome `data["outcome"]`, default "staff_hung_up"),
        "say" speaks `data["text"]`, "amd" is the answering-machine verdict
        (`data["answered_by"]`, as Twilio's AnsweredBy)."""
        if self._closing:
            return
        self.recorder.event("control", action=action, data=dict(data))
        if action == "hang_up":
            self.outcome = self.outcome or str(data.get("outcome") or "staff_hung_up")
            await self.barge_in.stop_agent()
            self._spawn(self._hang_up(self.outcome), "hang-up")
        elif action == "say" and str(data.get("text", "")).strip():
            self.opening.stop_waiting()
            self._start_response(say=str(data["text"]).strip())
        elif action == "amd":
            await self.opening.verdict(str(data.get("answered_by", "")))
        else:
            log.warning("unknown call control %r", action, extra={"call_id": self.call_id})
