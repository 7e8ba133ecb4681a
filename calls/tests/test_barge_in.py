"""Barge-in alone, with a fake responder and playout: caller speech over the agent holds its
audio back, then a backchannel (or wordless speech) lets it go on and anything else, or speech
that goes on, interrupts it and is answered."""

from __future__ import annotations

import asyncio

import pytest

from calls.engine import barge_in as barge_in_module
from calls.engine.barge_in import BargeIn
from calls.engine.hearing import Timing
from calls.engine.recorder import CallAudio
from calls.engine.response import Cut
from calls.tests.conftest import until

NOW = 12.5


class FakePlayout:
    def __init__(self, *, speaking: bool = True) -> None:
        self.speaking = speaking
        self.busy = speaking
        self.paused = False
        self.resumed = 0

    async def pause(self) -> bool:
        self.paused = True
        return True

    def resume(self) -> None:
        self.paused = False
        self.resumed += 1


class FakeResponder:
    def __init__(self, *, active: bool = True, turn_open: bool = True) -> None:
        self.active = active
        self.turn_open = turn_open
        self.cancels = 0
        self.cut_offs: list[float | None] = []

    async def cancel(self) -> None:
        self.cancels += 1

    async def cut_off(self, at: float | None = None) -> Cut:
        self.cut_offs.append(at)
        self.active = self.turn_open = False
        return Cut(["Our hours are nine to five."], "Our hours")


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def event(self, kind: str, **data) -> None:
        self.events.append((kind, data))


class Hooks:
    def __init__(self) -> None:
        self.closing = False
        self.caller_speaking = False
        self.answers: list[tuple[str, Timing]] = []

    def answer(self, text: str, timing: Timing) -> None:
        self.answers.append((text, timing))


@pytest.fixture
async def make():
    tasks: list[asyncio.Task] = []

    def spawn(coro, name):
        task = asyncio.create_task(coro, name=name)
        tasks.append(task)
        return task

    def build(*, speaking: bool = True, active: bool = True, turn_open: bool = True) -> BargeIn:
        return BargeIn(
            hooks=Hooks(),
            responder=FakeResponder(active=active, turn_open=turn_open),  # type: ignore[arg-type]
            playout=FakePlayout(speaking=speaking),  # type: ignore[arg-type]
            audio=CallAudio(0.0),
            recorder=FakeRecorder(),  # type: ignore[arg-type]
            spawn=spawn,
            clock=lambda: NOW,
        )

    yield build
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def kinds(barge) -> list[str]:
    return [kind for kind, _ in barge.recorder.events]


async def test_speech_over_the_agent_holds_its_audio_and_a_backchannel_lets_it_go_on(make):
    barge = make()
    await barge.caller_started()
    assert barge.holding and barge.playout.paused  # held back at once, before any words

    assert barge.caller_said("Mm-hmm.", Timing(NOW)) is True
    assert not barge.holding and barge.playout.resumed == 1
    assert barge.recorder.events == [("backchannel", {"text": "Mm-hmm."})]
    assert barge.responder.cancels == 0 and barge.responder.cut_offs == []
    assert barge.hooks.answers == []  # not a turn to answer


async def test_other_words_over_the_agent_interrupt_it_and_are_answered(make):
    barge = make()
    await barge.caller_started()
    timing = Timing(NOW)
    assert barge.caller_said("Wait, do you have tea?", timing) is True
    await until(lambda: barge.hooks.answers)

    assert barge.hooks.answers == [("Wait, do you have tea?", timing)]
    assert barge.responder.cancels == 1
    assert barge.responder.cut_offs == [NOW]  # cut where it was held back, not later
    assert barge.recorder.events == [
        (
            "barge_in",
            {"cause": "speech", "heard": "Our hours", "cut": ["Our hours are nine to five."]},
        )
    ]
    assert not barge.holding and barge.playout.resumed == 0


async def test_speech_that_goes_on_interrupts_before_its_words_are_known(make, monkeypatch):
    monkeypatch.setattr(barge_in_module, "INTERRUPT_AFTER", 0.05)
    barge = make()
    barge.hooks.caller_speaking = True
    await barge.caller_started()
    await until(lambda: barge.responder.cut_offs)
    assert kinds(barge) == ["barge_in"] and not barge.holding


async def test_speech_that_stopped_before_the_wait_leaves_the_words_to_decide(make, monkeypatch):
    monkeypatch.setattr(barge_in_module, "INTERRUPT_AFTER", 0.05)
    barge = make()
    await barge.caller_started()
    await asyncio.sleep(0.15)
    assert barge.holding and barge.responder.cut_offs == []
    assert barge.resume() is True  # e.g. no words came of it: the agent goes on
    assert barge.playout.resumed == 1


async def test_with_nothing_left_to_hear_the_caller_takes_the_turn_at_once(make):
    barge = make(speaking=False)  # the model is still writing; no audio is playing
    await barge.caller_started()
    assert not barge.holding and not barge.playout.paused
    assert barge.responder.cancels == 1 and barge.responder.cut_offs == [None]
    assert kinds(barge) == ["barge_in"]


async def test_caller_speech_while_the_agent_is_silent_is_an_ordinary_turn(make):
    barge = make(speaking=False, active=False, turn_open=False)
    await barge.caller_started()
    assert not barge.holding and barge.responder.cancels == 0
    assert barge.caller_said("What are your hours?", Timing(NOW)) is False
    assert barge.resume() is False
    assert barge.recorder.events == []


async def test_a_keypress_interrupts_with_its_cause(make):
    barge = make()
    await barge.interrupt(cause="dtmf")
    assert barge.recorder.events[0][0] == "barge_in"
    assert barge.recorder.events[0][1]["cause"] == "dtmf"


async def test_stopping_the_agent_for_a_hang_up_cuts_only_what_is_open(make):
    quiet = make(speaking=False, active=True, turn_open=False)
    await quiet.stop_agent()
    assert quiet.responder.cancels == 1 and quiet.responder.cut_offs == []

    held = make()
    await held.caller_started()
    await held.stop_agent()
    assert held.responder.cut_offs == [NOW] and not held.holding
    assert held.recorder.events == []  # a hang-up is no barge-in
