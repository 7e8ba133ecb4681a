"""One call's conversation: hearing the caller, deciding when they are done, answering.

The session owns every task of the call and cancels them all when it ends. It knows nothing of
the carrier: audio comes in and goes out through a CallTransport.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from django.utils import timezone

from calls import hooks
from calls.engine.hearing import Hearing, Timing, TurnModel
from calls.engine.heartbeat import live_calls
from calls.engine.playout import Playout, TransportClosed, Utterance, heard_text
from calls.engine.recorder import CallAudio, CallRecorder, TurnRecord
from calls.engine.sentences import SentenceSplitter
from calls.engine.speech import Listener, Speaker
from calls.providers.base import (
    LLM,
    ProviderError,
    TextDelta,
    ToolCalls,
)
from calls.tools import Tool, ToolContext, ToolResult
from calls.vad import VoiceActivityDetector

__all__ = ["AgentSettings", "CallSession", "CallTransport", "TransportClosed"]

log = logging.getLogger(__name__)

MAX_TOOL_STEPS = 5
APOLOGY = "Sorry, I'm having trouble right now. Could you say that again?"
DTMF_WAIT = 2.0  # seconds after the last key before the digits are taken as the caller's turn
# Speech must last 200 ms to count (so a cough is no barge-in); 240 ms of quiet ends it.
VAD_OPTIONS = {"start_ms": 200, "stop_ms": 240}
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


class CallTransport(Protocol):
    """The carrier side of a call, as the session sees it. Sends raise TransportClosed once the
    socket is gone."""

    async def send_audio(self, mulaw: bytes) -> None: ...
    async def send_mark(self, name: str) -> None: ...
    async def send_clear(self) -> None: ...
    async def hang_up(self) -> None: ...


@dataclass
class AgentSettings:
    """What the session needs of an Agent, read once before the call starts."""

    greeting: str
    system_prompt: str
    language: str = "en"
    voice: str = ""
    reprompt: str = "Are you still there?"
    goodbye: str = "Thank you for calling. Goodbye!"
    silence_reprompt: float = 8.0
    silence_hangup: float = 20.0
    max_call_seconds: float = 600.0
    hints: list[str] = field(default_factory=list)
    didnt_catch: str = "Sorry, I didn't catch that. Could you say it again?"
    # Who speaks first (calls.models.FirstSpeaker): "agent" greets at once; "callee" waits for
    # the callee's hello, or `callee_silence` seconds without a word; "machine_verdict" waits
    # for the carrier's answering-machine verdict (control "amd"), at most `verdict_timeout`.
    first_speaker: str = "agent"
    callee_silence: float = 4.0
    verdict_timeout: float = 35.0
    voicemail: str = ""  # what a machine hears ("": hang up on it)


@dataclass
class AgentTurn:
    record: TurnRecord
    timing: Timing | None
    utterances: list[Utterance] = field(default_factory=list)
    closed: bool = False
    first_sent: bool = False


class CallSession:
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
        self.speaker = speaker
        self.tools = {t.name: t for t in tools}
        self.tool_specs = [t.spec() for t in tools]
        self.tool_context = tool_context
        self.transport = transport
        self.recorder = recorder or CallRecorder(call_id)
        self.clock = clock
        self._tasks: set[asyncio.Task] = set()
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
            on_first_audio=self._first_audio_sent,
        )
        self.t0 = clock()
        self.audio = CallAudio(self.t0)
        self.playout.on_chunk = self.audio.add_agent
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": agent.system_prompt}]
        self.outcome = ""
        self._response: asyncio.Task | None = None
        self._agent_turn: AgentTurn | None = None
        self._last_activity = self.t0
        self._reprompted = False
        self._ending = False
        self._digits = ""
        self._digits_timer: asyncio.TimerHandle | None = None
        self._closed = asyncio.Event()
        self._closing = False
        self._closer: asyncio.Task | None = None
        self._held_at: float | None = None  # the agent's audio is held back for the caller
        self._hold_timer: asyncio.TimerHandle | None = None
        self._awaiting = ""  # the first speaker the agent still waits for (see AgentSettings)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the recogniser, start the call's tasks and greet the caller."""
        self.recorder.start()
        live_calls.add(self)
        self.recorder.event(
            "started", stt=self.hearing.listener.candidates[0].name, llm=self.llm.name
        )
        self._spawn(self.playout.run(), "playout")
        self._spawn(self._watchdog(), "watchdog")
        # The greeting does not wait for the recogniser's connection; audio that arrives
        # meanwhile is kept and replayed into it.
        self._spawn(self._open_listener(), "stt-open")
        await hooks.run_start_hooks(self.tool_context)
        if not self._closing:
            self._greet_or_wait()

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
        if self._digits_timer is not None:
            self._digits_timer.cancel()
        if self._response is not None and not self._response.done():
            self._response.cancel()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.hearing.close()
        self._close_agent_turn(interrupted=self.playout.busy)
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

    @property
    def task_count(self) -> int:
        return sum(1 for t in self._tasks if not t.done())

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"call-{self.call_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        log.error("call task failed", exc_info=task.exception(), extra={"call_id": self.call_id})
        self.recorder.event("error", task=task.get_name(), error=repr(task.exception()))
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
            self._last_activity = self.clock()

    async def on_dtmf(self, digit: str) -> None:
        if self._closing:
            return
        self.recorder.event("dtmf", digit=digit)
        self._last_activity = self.clock()
        self._reprompted = False
        if self.agent_active:
            await self._barge_in(cause="dtmf")
        if self._digits_timer is not None:
            self._digits_timer.cancel()
        if digit == "#":
            self._take_digits()
            return
        self._digits += digit
        self._digits_timer = asyncio.get_running_loop().call_later(DTMF_WAIT, self._take_digits)

    def _take_digits(self) -> None:
        digits, self._digits = self._digits, ""
        self._digits_timer = None
        if digits and not self._closing:
            now = self.clock()
            self._save_caller_turn(f"(keypad) {' '.join(digits)}", None, now)
            self._start_response(
                user_text=f"The caller pressed the keys: {digits}", timing=Timing(now)
            )

    # ------------------------------------------------------------------ hearing's hooks
    async def caller_started(self) -> None:
        if self._held_at is not None or not self.agent_active:
            return
        if not self.playout.speaking:  # nothing left to hear: the caller takes the turn
            await self._barge_in(cause="speech")
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
        if self._held_at is not None and self.hearing.speaking and not self._closing:
            self._spawn(self._barge_in(cause="speech"), "barge-in")

    def _release_hold(self) -> float | None:
        held_at, self._held_at = self._held_at, None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        return held_at

    def _resume(self) -> None:
        """It was not an interruption: the agent goes on where playback stopped."""
        if self._release_hold() is not None:
            self.playout.resume()

    def caller_active(self) -> None:
        self._last_activity = self.clock()
        self._reprompted = False

    def caller_turn(self, text: str, timing: Timing) -> None:
        self._save_caller_turn(text, timing.started_at, timing.speech_end)
        if self._closing:  # words heard as the call ends are kept, not answered
            return
        if self._held_at is not None:
            if is_backchannel(text):
                self.recorder.event("backchannel", text=text)
                self._resume()
                return
            self._spawn(self._interrupted_by(text, timing), "barge-in")
            return
        self._start_response(user_text=text, timing=timing)

    async def _interrupted_by(self, text: str, timing: Timing) -> None:
        await self._barge_in(cause="speech")
        self._start_response(user_text=text, timing=timing)

    def caller_unheard(self, seconds: float, reason: str) -> None:
        """Speech with no words in it: say so in the record, and ask again (or, if it came
        over the agent's voice, let the agent go on)."""
        self.recorder.event("unheard", seconds=seconds, reason=reason)
        if self._held_at is not None:
            self._resume()
        elif not self._closing and not self._ending and not self.agent_active:
            self._start_response(say=self.agent.didnt_catch)

    def _save_caller_turn(self, text: str, started_at, speech_end: float) -> None:
        ended_at = timezone.now() - timedelta(seconds=max(0.0, self.clock() - speech_end))
        record = self.recorder.new_turn("caller", started_at or ended_at)
        record.text = text
        record.ended_at = ended_at
        self.recorder.save_turn(record)

    # ------------------------------------------------------------------ barge-in
    @property
    def responding(self) -> bool:
        """The agent is preparing or saying an answer (the model, the tools, the synthesis)."""
        return self._response is not None and not self._response.done()

    @property
    def agent_active(self) -> bool:
        """The agent is answering, or its audio is still playing."""
        return self.responding or self.playout.busy

    async def _barge_in(self, *, cause: str) -> None:
        held_at = self._release_hold()
        await _cancelled(self._response)
        turn = self._agent_turn
        cut, heard = await self._cut_agent_off(held_at)
        self.recorder.event(
            "barge_in",
            cause=cause,
            heard=heard,
            cut=[u.text for u in cut if turn and u in turn.utterances],
        )

    async def _cut_agent_off(self, at: float | None = None) -> tuple[list[Utterance], str]:
        """Stop the agent's audio where it is (or where it was held back, `at`): drop what is
        queued (here and at the carrier), keep in the recording and the transcript only what
        played. Returns the utterances cut short and the words heard."""
        now = self.clock() if at is None else at
        cut = await self.playout.clear()
        self.audio.cut_agent(now)
        return cut, self._close_agent_turn(interrupted=True, now=now)

    # ------------------------------------------------------------------ the agent's turn
    def _start_response(
        self,
        *,
        user_text: str | None = None,
        say: str | None = None,
        timing: Timing | None = None,
        resets_silence: bool = True,
    ) -> None:
        if self._awaiting:  # only the callee's side speaks now: words, keys, or unheard speech
            if self._awaiting == "machine_verdict":
                # Heard before the verdict (a machine's own greeting, perhaps): kept, unanswered.
                if user_text is not None:
                    self.messages.append({"role": "user", "content": user_text})
                return
            self._awaiting = ""
            say = self.agent.greeting  # the callee's "Hello?" is answered with the greeting
        previous = self._response
        self._response = self._spawn(
            self._begin(previous, user_text, say, timing, resets_silence), "respond"
        )

    async def _begin(self, previous, user_text, say, timing, resets_silence) -> None:
        """A newer turn supersedes whatever the agent was still writing or saying."""
        await _cancelled(previous)
        if self.playout.busy or (self._agent_turn is not None and not self._agent_turn.closed):
            await self._cut_agent_off()
        await self._respond(user_text, say, timing, resets_silence)

    async def _respond(
        self, user_text: str | None, say: str | None, timing: Timing | None, resets_silence: bool
    ) -> None:
        if user_text is not None:
            last = self.messages[-1]
            if last["role"] == "user" and isinstance(last.get("content"), str):
                # The answer to the caller's previous words was superseded before anything of
                # it was heard or done (they went on talking): one message, as they meant it.
                self.messages[-1] = {**last, "content": f"{last['content']} {user_text}"}
            else:
                self.messages.append({"role": "user", "content": user_text})
        turn = AgentTurn(self.recorder.new_turn("agent"), timing)
        self._agent_turn = turn
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaking = asyncio.create_task(
            self._speak(sentences, turn), name=f"call-{self.call_id}-speak"
        )
        try:
            if say is not None:
                splitter = SentenceSplitter()
                for sentence in [*splitter.feed(say), *splitter.flush()]:
                    sentences.put_nowait(sentence)
            else:
                await self._think(sentences, turn)
            if self._ending and not turn.utterances and sentences.empty():
                sentences.put_nowait(self.agent.goodbye)
            sentences.put_nowait(None)
            await speaking
            await self.playout.drained()
        except BaseException:
            speaking.cancel()
            await asyncio.gather(speaking, return_exceptions=True)
            raise
        self._close_agent_turn(interrupted=False)
        if resets_silence:
            self._last_activity = self.clock()
        if self._ending:
            await self._hang_up(self.outcome or "agent_ended")

    async def _think(self, sentences: asyncio.Queue, turn: AgentTurn) -> None:
        """Run the model (and the tools it asks for) until it has said its piece."""
        try:
            for _ in range(MAX_TOOL_STEPS):
                splitter, calls = SentenceSplitter(), None
                async for event in self.llm.stream(self.messages, self.tool_specs):
                    if turn.timing is not None:
                        turn.timing.mark("llm_first_token", self.clock())
                    if isinstance(event, TextDelta):
                        for sentence in splitter.feed(event.text):
                            sentences.put_nowait(sentence)
                    elif isinstance(event, ToolCalls):
                        calls = event.calls
                for sentence in splitter.flush():
                    sentences.put_nowait(sentence)
                if not calls:
                    return
                self.messages.append(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                            }
                            for c in calls
                        ],
                    }
                )
                for call in calls:
                    result = await self._run_tool(call.name, call.arguments)
                    self.messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.id,
                            "content": result.as_message_content(),
                        }
                    )
                    if result.end_call:
                        self._ending = True
                        self.outcome = self.outcome or "agent_ended"
        except ProviderError as error:
            self.recorder.event("error", role="llm", error=str(error))
            sentences.put_nowait(APOLOGY)

    async def _run_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        tool = self.tools.get(name)
        if tool is None:
            result = ToolResult({"error": f"no tool named {name!r}"})
        else:
            try:
                result = await tool.run(self.tool_context, arguments)
            except Exception as exc:  # a broken tool must not end the call; the model hears why
                log.exception("tool failed", extra={"tool": name, "call_id": self.call_id})
                result = ToolResult({"error": f"{type(exc).__name__}: {exc}"})
        self.recorder.event("tool_call", name=name, arguments=arguments, result=result.data)
        return result

    async def _speak(self, sentences: asyncio.Queue, turn: AgentTurn) -> None:
        count = 0
        while (text := await sentences.get()) is not None:
            utterance = Utterance(text, mark=f"t{turn.record.index}s{count}")
            count += 1
            turn.utterances.append(utterance)
            try:
                async for chunk in self.speaker.synthesize(text):
                    if turn.timing is not None:
                        turn.timing.mark("tts_first_audio", self.clock())
                    self.playout.add(utterance, chunk)
            except ProviderError as error:
                self.recorder.event("error", role="tts", error=str(error), text=text)
            self.playout.end_utterance(utterance)

    def _first_audio_sent(self, utterance: Utterance, now: float) -> None:
        turn = self._agent_turn
        if turn is None or utterance not in turn.utterances:
            return
        if not turn.first_sent:
            turn.first_sent = True
            turn.record.started_at = timezone.now()
            if turn.timing is not None:  # an answer to the caller (not a greeting or re-prompt)
                turn.timing.mark("first_frame_sent", now)
                turn.record.latency_ms = turn.timing.marks["first_frame_sent"]
                turn.record.timings = turn.timing.as_dict()

    def _close_agent_turn(self, *, interrupted: bool, now: float | None = None) -> str:
        """Write the agent's turn with the words the caller heard; they also become the
        assistant's line in the conversation the model sees next."""
        turn = self._agent_turn
        if turn is None or turn.closed:
            return ""
        turn.closed = True
        parts = []
        for utterance in turn.utterances:
            if utterance.played or not interrupted:
                parts.append(utterance.text)
                continue
            fraction = (
                self.playout.heard_seconds(utterance, now) / utterance.seconds
                if utterance.seconds
                else 0
            )
            partial = heard_text(utterance.text, fraction)
            if partial:
                parts.append(partial)
            break
        heard = " ".join(parts)
        if heard:
            self.messages.append({"role": "assistant", "content": heard})
        if turn.utterances:
            turn.record.text = heard
            turn.record.interrupted = interrupted
            turn.record.ended_at = timezone.now()
            if turn.timing is not None:
                turn.record.timings = {**turn.timing.as_dict(), **turn.record.timings}
            self.recorder.save_turn(turn.record)
        return heard

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

    async def _watchdog(self) -> None:
        """Silence and the call's length limit, checked once a second."""
        while True:
            await asyncio.sleep(1.0)
            now = self.clock()
            if self._ending:
                continue
            if now - self.t0 >= self.agent.max_call_seconds:
                self.recorder.event("silence", reason="max_call_seconds")
                await self._say_and_hang_up(self.agent.goodbye, "max_duration")
                continue
            if self._awaiting or self.agent_active or self.hearing.busy or self._digits:
                continue
            silent = now - self._last_activity
            if silent >= self.agent.silence_hangup:
                self.recorder.event("silence", reason="hang_up", seconds=round(silent, 1))
                await self._say_and_hang_up(self.agent.goodbye, "silence_timeout")
            elif silent >= self.agent.silence_reprompt and not self._reprompted:
                self._reprompted = True
                self.recorder.event("silence", reason="reprompt", seconds=round(silent, 1))
                self._start_response(say=self.agent.reprompt, resets_silence=False)

    # ------------------------------------------------------------------ who speaks first; control
    def _greet_or_wait(self) -> None:
        if self.agent.first_speaker == "callee":
            self._awaiting = "callee"
            self._spawn(self._greet_after_silence(), "await-callee")
        elif self.agent.first_speaker == "machine_verdict":
            self._awaiting = "machine_verdict"
            self._spawn(self._greet_unless_verdict(), "await-verdict")
        else:
            self._start_response(say=self.agent.greeting)

    async def _greet_after_silence(self) -> None:
        while self._awaiting == "callee":
            await asyncio.sleep(0.1)
            quiet = self.clock() - self._last_activity >= self.agent.callee_silence
            if quiet and not self.hearing.busy and self._awaiting == "callee":
                self._awaiting = ""
                self._start_response(say=self.agent.greeting)

    async def _greet_unless_verdict(self) -> None:
        await asyncio.sleep(self.agent.verdict_timeout)
        if self._awaiting == "machine_verdict":
            self.recorder.event("amd", answered_by="", reason="no verdict in time")
            await self._on_verdict("unknown")

    async def _on_verdict(self, answered_by: str) -> None:
        if self._awaiting != "machine_verdict":
            return  # late: the agent already spoke
        self._awaiting = ""
        if answered_by in ("human", "unknown"):
            self._start_response(say=self.agent.greeting)
        elif answered_by.startswith("machine") and self.agent.voicemail:
            await self._say_and_hang_up(self.agent.voicemail, "voicemail_left")
        else:
            outcome = "fax" if answered_by == "fax" else "answering_machine"
            self._spawn(self._hang_up(outcome), "hang-up")

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
            held_at = self._release_hold()
            await _cancelled(self._response)
            turn_open = self._agent_turn is not None and not self._agent_turn.closed
            if held_at is not None or self.playout.busy or turn_open:
                await self._cut_agent_off(held_at)
            self._spawn(self._hang_up(self.outcome), "hang-up")
        elif action == "say" and str(data.get("text", "")).strip():
            self._awaiting = ""
            self._start_response(say=str(data["text"]).strip())
        elif action == "amd":
            await self._on_verdict(str(data.get("answered_by", "")))
        else:
            log.warning("unknown call control %r", action, extra={"call_id": self.call_id})


async def _cancelled(task: asyncio.Task | None) -> None:
    """Cancel `task` and wait until it has finished (a cancel of the waiter still lands)."""
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
