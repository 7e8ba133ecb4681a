"""The responder alone, with a scripted model, a fake speaker and a real playout whose marks
echo at once: the tool loop, the merge of superseded caller words, the apology on a model
failure, the goodbye when a tool ends the call, and a cut-off that keeps only what was heard."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from calls.engine.hearing import Timing
from calls.engine.playout import Playout
from calls.engine.recorder import CallAudio, TurnRecord
from calls.engine.response import APOLOGY, MAX_TOOL_STEPS, Responder
from calls.providers.base import LLM, Finished, ProviderError, TextDelta, ToolCall, ToolCalls
from calls.tests.conftest import until
from calls.tools import Tool, ToolContext, ToolResult

GOODBYE = "Goodbye now."
HANG = "hang"  # a model step that never answers (until cancelled)


class ListRecorder:
    """The recorder's interface, keeping records in lists instead of writing them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.saved: list[TurnRecord] = []
        self._next = 0

    def new_turn(self, speaker, started_at=None) -> TurnRecord:
        self._next += 1
        return TurnRecord(self._next - 1, speaker, started_at)

    def save_turn(self, record: TurnRecord) -> None:
        self.saved.append(record)

    def event(self, kind: str, **data) -> None:
        self.events.append((kind, data))


class ScriptLLM(LLM):
    """Each stream plays the next step: a list of events, an error to raise, or HANG."""

    name = "script"

    def __init__(self, *steps) -> None:
        self.steps = list(steps)
        self.seen: list[list[dict]] = []  # the messages each stream was given

    async def stream(self, messages, tools):
        self.seen.append([dict(m) for m in messages])
        step = self.steps.pop(0) if self.steps else [TextDelta("Okay."), Finished()]
        if step == HANG:
            await asyncio.sleep(3600)
        if isinstance(step, Exception):
            raise step
        for event in step:
            yield event


class FakeSpeaker:
    """`seconds_per_char` of audio per character of each sentence, all at once."""

    def __init__(self, seconds_per_char: float = 0.001) -> None:
        self.seconds_per_char = seconds_per_char
        self.spoken: list[str] = []

    async def synthesize(self, text: str):
        self.spoken.append(text)
        yield b"\x20" * max(8, int(len(text) * self.seconds_per_char * 8000))


class Hooks:
    def __init__(self) -> None:
        self.ending = False
        self.end_requests = 0
        self.answered_with: list[bool] = []

    def end_requested(self) -> None:
        self.ending = True
        self.end_requests += 1

    async def answered(self, resets_silence: bool) -> None:
        self.answered_with.append(resets_silence)


async def _add_drink(ctx: ToolContext, name: str) -> ToolResult:
    return ToolResult({"added": name}, say=f"One {name}.")


async def _broken(ctx: ToolContext) -> ToolResult:
    raise ValueError("the till is closed")


async def _hang_up(ctx: ToolContext) -> ToolResult:
    return ToolResult({"ended": True}, end_call=True)


NO_ARGS = {"type": "object", "properties": {}}
TOOLS = [
    Tool(
        "add_drink",
        "Add a drink.",
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        _add_drink,
    ),
    Tool("broken", "Always fails.", NO_ARGS, _broken),
    Tool("end_call", "End the call.", NO_ARGS, _hang_up),
]


@pytest.fixture
async def stage():
    """A responder on a running playout; call `stage(llm, speaker)` to build it."""
    tasks: list[asyncio.Task] = []
    playouts: list[Playout] = []

    def spawn(coro, name):
        task = asyncio.create_task(coro, name=name)
        tasks.append(task)
        return task

    def build(llm: LLM, speaker: FakeSpeaker | None = None) -> Responder:
        loop = asyncio.get_running_loop()
        sent: list[tuple] = []

        async def send_audio(data):
            sent.append(("media", data))

        async def send_mark(name):
            # The carrier echoes a mark once the audio before it has played.
            delay = max(0.0, playout.play_end - playout.clock())
            loop.call_later(delay, playout.mark_played, name)

        async def send_clear():
            sent.append(("clear", None))

        playout = Playout(send_audio, send_mark, send_clear, lead=0.05)
        playouts.append(playout)
        audio = CallAudio(time.monotonic())
        playout.on_chunk = audio.add_agent
        responder = Responder(
            call_id=1,
            hooks=Hooks(),
            system_prompt="Be brief.",
            goodbye=GOODBYE,
            llm=llm,
            speaker=speaker or FakeSpeaker(),  # type: ignore[arg-type]
            tools=TOOLS,
            tool_context=ToolContext(1, 1, 1, "+14155550000"),
            playout=playout,
            audio=audio,
            recorder=ListRecorder(),  # type: ignore[arg-type]
            spawn=spawn,
        )
        playout.on_first_audio = responder.first_audio_sent
        spawn(playout.run(), "playout")
        return responder

    yield build
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_tool_call_runs_and_its_result_goes_back_to_the_model(stage):
    llm = ScriptLLM(
        [ToolCalls([ToolCall("c1", "add_drink", {"name": "latte"})]), Finished()],
        [TextDelta("One latte. Anything"), TextDelta(" else?"), Finished()],
    )
    speaker = FakeSpeaker()
    responder = stage(llm, speaker)
    responder.start(user_text="a latte please", timing=Timing(time.monotonic()))
    await until(lambda: responder.hooks.answered_with)

    assert [m["role"] for m in responder.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    asked = responder.messages[2]["tool_calls"][0]
    assert asked["id"] == "c1" and json.loads(asked["function"]["arguments"]) == {"name": "latte"}
    assert responder.messages[3]["tool_call_id"] == "c1"
    assert json.loads(responder.messages[3]["content"])["added"] == "latte"
    assert llm.seen[1][-1]["role"] == "tool"  # the model's second step saw the tool's result
    assert responder.messages[4]["content"] == "One latte. Anything else?"
    assert speaker.spoken == ["One latte.", "Anything else?"]  # sentence by sentence
    tool_call = {"name": "add_drink", "arguments": {"name": "latte"}, "result": {"added": "latte"}}
    assert ("tool_call", tool_call) in responder.recorder.events
    record = responder.recorder.saved[-1]
    assert (record.speaker, record.text, record.interrupted) == (
        "agent",
        "One latte. Anything else?",
        False,
    )
    # The answer's timings, from the caller's end of speech to the first frame sent.
    assert {"llm_first_token", "tts_first_audio", "first_frame_sent"} <= set(record.timings)
    assert record.latency_ms == record.timings["first_frame_sent"]
    assert responder.hooks.answered_with == [True] and not responder.responding


async def test_a_missing_or_broken_tool_is_an_error_the_model_hears(stage):
    responder = stage(ScriptLLM())
    missing = await responder.run_tool("refund", {})
    broken = await responder.run_tool("broken", {})
    bad_arguments = await responder.run_tool("add_drink", {"size": "large"})
    assert missing.data == {"error": "no tool named 'refund'"}
    assert broken.data == {"error": "ValueError: the till is closed"}
    assert bad_arguments.data["error"].startswith("invalid arguments")
    assert [kind for kind, _ in responder.recorder.events] == ["tool_call"] * 3


async def test_the_tool_loop_stops_after_its_last_step(stage):
    again = [ToolCalls([ToolCall("c", "add_drink", {"name": "tea"})]), Finished()]
    llm = ScriptLLM(*[again] * (MAX_TOOL_STEPS + 3))
    responder = stage(llm)
    responder.start(user_text="tea, tea, tea")
    await until(lambda: responder.hooks.answered_with)
    assert len(llm.seen) == MAX_TOOL_STEPS
    assert sum(m["role"] == "tool" for m in responder.messages) == MAX_TOOL_STEPS


async def test_an_end_call_tool_asks_the_session_to_end_and_goodbye_is_said(stage):
    llm = ScriptLLM([ToolCalls([ToolCall("c", "end_call", {})]), Finished()], [Finished()])
    speaker = FakeSpeaker()
    responder = stage(llm, speaker)
    responder.start(user_text="that's all, bye")
    await until(lambda: responder.hooks.answered_with)
    assert responder.hooks.end_requests == 1
    assert speaker.spoken == [GOODBYE]  # the model said nothing: the goodbye is said for it
    assert responder.messages[-1] == {"role": "assistant", "content": GOODBYE}


async def test_words_said_while_the_answer_is_written_merge_into_one_message(stage):
    llm = ScriptLLM(HANG, [TextDelta("An oat latte, coming up."), Finished()])
    responder = stage(llm)
    responder.start(user_text="I'd like a latte")
    await until(lambda: len(llm.seen) == 1)
    assert responder.responding
    responder.start(user_text="with oat milk")  # supersedes the answer in flight
    await until(lambda: responder.hooks.answered_with)

    users = [m["content"] for m in responder.messages if m["role"] == "user"]
    assert users == ["I'd like a latte with oat milk"]  # one message, as the caller meant it
    assert llm.seen[1][-1] == {"role": "user", "content": "I'd like a latte with oat milk"}
    # The superseded answer said nothing, so it leaves no turn in the transcript.
    assert [r.text for r in responder.recorder.saved] == ["An oat latte, coming up."]


async def test_a_model_failure_is_an_apology_and_an_error_event(stage):
    speaker = FakeSpeaker()
    responder = stage(ScriptLLM(ProviderError("model down", provider="script")), speaker)
    responder.start(user_text="what are your hours?")
    await until(lambda: responder.hooks.answered_with)
    assert speaker.spoken == [APOLOGY]
    assert ("error", {"role": "llm", "error": "model down"}) in responder.recorder.events
    assert responder.messages[-1] == {"role": "assistant", "content": APOLOGY}


async def test_words_kept_unanswered_are_part_of_the_next_answer(stage):
    llm = ScriptLLM()
    responder = stage(llm)
    responder.keep_unanswered("Hello, you have reached the voicemail of")
    assert not responder.responding and not responder.recorder.saved
    responder.start(user_text="Sam.")
    await until(lambda: responder.hooks.answered_with)
    assert llm.seen[0][-1]["content"] == "Hello, you have reached the voicemail of Sam."


async def test_a_cut_off_keeps_only_what_the_caller_heard(stage):
    text = "This first sentence takes a while. The second one is never heard."
    responder = stage(ScriptLLM(), FakeSpeaker(seconds_per_char=0.02))
    responder.start(say=text)
    await until(lambda: responder.playout.speaking)
    await asyncio.sleep(0.25)  # well into the first sentence (0.7 s of audio)
    cut = await responder.cut_off()

    assert cut.heard and text.startswith(cut.heard)
    assert len(cut.heard) < len("This first sentence takes a while.")
    assert cut.texts == ["This first sentence takes a while.", "The second one is never heard."]
    record = responder.recorder.saved[-1]
    assert (record.text, record.interrupted) == (cut.heard, True)
    assert responder.messages[-1] == {"role": "assistant", "content": cut.heard}
    assert not responder.turn_open
    await responder.cancel()
    assert not responder.responding and not responder.active
