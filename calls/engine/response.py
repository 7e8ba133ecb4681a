"""The agent's answer: the model, the tools it asks for, and the sentences spoken as they come.

`Responder` owns everything between "answer this" and the agent's turn in the transcript: the
conversation the model sees (with consecutive caller messages merged when an answer to the first
was superseded), the model's stream and its tool loop, the sentences handed to the speaker and
queued for playout, and the agent turn's record and timings (first token, first audio, first
frame sent). A newer answer supersedes the one in flight. It talks back to the session through
`ResponseHooks`: the session decides when the call ends; the responder only answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils import timezone

from calls.cancellation import keep_cancellation
from calls.engine.hearing import Timing
from calls.engine.playout import Playout, Utterance, heard_text
from calls.engine.recorder import CallAudio, CallRecorder, TurnRecord
from calls.engine.sentences import SentenceSplitter
from calls.engine.speech import Speaker
from calls.providers.base import LLM, ProviderError, TextDelta, ToolCalls
from calls.tools import Tool, ToolContext, ToolResult

log = logging.getLogger(__name__)

MAX_TOOL_STEPS = 5
APOLOGY = "Sorry, I'm having trouble right now. Could you say that again?"


class ResponseHooks(Protocol):
    """What the responder tells (and asks) the session."""

    @property
    def ending(self) -> bool:
        """The call ends once the answer in flight has been said."""

    def end_requested(self) -> None:
        """A tool ended the call: it ends once this answer has been said."""

    async def answered(self, resets_silence: bool) -> None:
        """An answer was said in full (everything played)."""


@dataclass
class AgentTurn:
    """One answer of the agent: its record, the caller turn's clock it answers (None for a
    greeting or a re-prompt) and the sentences queued for it."""

    record: TurnRecord
    timing: Timing | None
    utterances: list[Utterance] = field(default_factory=list)
    closed: bool = False
    first_sent: bool = False


@dataclass
class Cut:
    """What a cut-off left: the sentences of the agent's turn cut short, and the words heard."""

    texts: list[str]
    heard: str


class Responder:
    """Owns the agent's answers: the conversation, the model and tool loop, the sentences sent
    to the speaker, and the agent's turn (its record, timings and what the caller heard)."""

    def __init__(
        self,
        *,
        call_id: int,
        hooks: ResponseHooks,
        system_prompt: str,
        goodbye: str,
        llm: LLM,
        speaker: Speaker,
        tools: list[Tool],
        tool_context: ToolContext,
        playout: Playout,
        audio: CallAudio,
        recorder: CallRecorder,
        spawn: Callable[[Any, str], asyncio.Task],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_id = call_id
        self.hooks = hooks
        self.goodbye = goodbye
        self.llm = llm
        self.speaker = speaker
        self.tools = {t.name: t for t in tools}
        self.tool_specs = [t.spec() for t in tools]
        self.tool_context = tool_context
        self.playout = playout
        self.audio = audio
        self.recorder = recorder
        self.clock = clock
        self._spawn = spawn
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
        self._task: asyncio.Task | None = None
        self._turn: AgentTurn | None = None

    # ------------------------------------------------------------------ state
    @property
    def responding(self) -> bool:
        """The agent is preparing or saying an answer (the model, the tools, the synthesis)."""
        return self._task is not None and not self._task.done()

    @property
    def active(self) -> bool:
        """The agent is answering, or its audio is still playing."""
        return self.responding or self.playout.busy

    @property
    def turn_open(self) -> bool:
        """The agent's latest turn is not written yet."""
        return self._turn is not None and not self._turn.closed

    # ------------------------------------------------------------------ answering
    def start(
        self,
        *,
        user_text: str | None = None,
        say: str | None = None,
        timing: Timing | None = None,
        resets_silence: bool = True,
    ) -> None:
        """Answer `user_text` (through the model) or say `say` as it is; the answer in flight,
        if any, is superseded."""
        previous = self._task
        self._task = self._spawn(
            self._begin(previous, user_text, say, timing, resets_silence), "respond"
        )

    def keep_unanswered(self, user_text: str) -> None:
        """The caller's words go into the conversation without an answer (yet)."""
        self.messages.append({"role": "user", "content": user_text})

    async def cancel(self) -> None:
        """Stop the answer in flight (the model, the tools, the synthesis) and wait for it."""
        await cancelled(self._task)

    async def cut_off(self, at: float | None = None) -> Cut:
        """Stop the agent's audio where it is (or where it was held back, `at`): drop what is
        queued (here and at the carrier), keep in the recording and the transcript only what
        played."""
        now = self.clock() if at is None else at
        turn = self._turn
        cut = await self.playout.clear()
        self.audio.cut_agent(now)
        heard = self.close_turn(interrupted=True, now=now)
        return Cut([u.text for u in cut if turn and u in turn.utterances], heard)

    async def _begin(self, previous, user_text, say, timing, resets_silence) -> None:
        """A newer turn supersedes whatever the agent was still writing or saying."""
        await cancelled(previous)
        if self.playout.busy or self.turn_open:
            await self.cut_off()
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
        self._turn = turn
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
            if self.hooks.ending and not turn.utterances and sentences.empty():
                sentences.put_nowait(self.goodbye)
            sentences.put_nowait(None)
            await speaking
            await self.playout.drained()
        except BaseException:
            speaking.cancel()
            await asyncio.gather(speaking, return_exceptions=True)
            raise
        self.close_turn(interrupted=False)
        await self.hooks.answered(resets_silence)

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
                    result = await self.run_tool(call.name, call.arguments)
                    self.messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.id,
                            "content": result.as_message_content(),
                        }
                    )
                    if result.end_call:
                        self.hooks.end_requested()
        except ProviderError as error:
            self.recorder.event("error", role="llm", error=str(error))
            sentences.put_nowait(APOLOGY)

    async def run_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Run one tool the model asked for; a missing or broken tool is an error result the
        model hears, never the end of the call."""
        tool = self.tools.get(name)
        if tool is None:
            result = ToolResult({"error": f"no tool named {name!r}"})
        else:
            try:
                with keep_cancellation():  # a tool's client may turn a barge-in into an error
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

    # ------------------------------------------------------------------ the agent's turn
    def first_audio_sent(self, utterance: Utterance, now: float) -> None:
        """Playout's word that `utterance` began to go out: the turn's start and latency."""
        turn = self._turn
        if turn is None or utterance not in turn.utterances:
            return
        if not turn.first_sent:
            turn.first_sent = True
            turn.record.started_at = timezone.now()
            if turn.timing is not None:  # an answer to the caller (not a greeting or re-prompt)
                turn.timing.mark("first_frame_sent", now)
                turn.record.latency_ms = turn.timing.marks["first_frame_sent"]
                turn.record.timings = turn.timing.as_dict()

    def close_turn(self, *, interrupted: bool, now: float | None = None) -> str:
        """Write the agent's turn with the words the caller heard; they also become the
        assistant's line in the conversation the model sees next."""
        turn = self._turn
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


async def cancelled(task: asyncio.Task | None) -> None:
    """Cancel `task` and wait until it has finished (a cancel of the waiter still lands)."""
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
