"""The opening alone: who speaks first, and what the answering-machine verdict leads to."""

from __future__ import annotations

import asyncio

import pytest

from calls.engine.opening import Opening
from calls.tests.conftest import until


class Hooks:
    def __init__(self) -> None:
        self.quiet_for = 0.0
        self.caller_busy = False
        self.did: list[tuple[str, str]] = []

    def greet(self) -> None:
        self.did.append(("greet", ""))

    async def leave_voicemail(self, text: str) -> None:
        self.did.append(("voicemail", text))

    def hang_up_on(self, outcome: str) -> None:
        self.did.append(("hang_up", outcome))


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def event(self, kind: str, **data) -> None:
        self.events.append((kind, data))


@pytest.fixture
async def make():
    tasks: list[asyncio.Task] = []

    def spawn(coro, name):
        tasks.append(asyncio.create_task(coro, name=name))
        return tasks[-1]

    def build(first_speaker: str, *, voicemail: str = "", verdict_timeout: float = 30.0):
        return Opening(
            hooks=Hooks(),
            first_speaker=first_speaker,
            callee_silence=0.2,
            verdict_timeout=verdict_timeout,
            voicemail=voicemail,
            recorder=Recorder(),  # type: ignore[arg-type]
            spawn=spawn,
        )

    yield build
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_agent_greets_at_once(make):
    opening = make("agent")
    opening.begin()
    assert opening.hooks.did == [("greet", "")] and not opening.waiting


async def test_the_callee_is_greeted_after_their_silence_but_not_while_they_talk(make):
    opening = make("callee")
    opening.begin()
    assert opening.waiting
    opening.hooks.quiet_for, opening.hooks.caller_busy = 5.0, True
    await asyncio.sleep(0.25)
    assert opening.hooks.did == []  # quiet long enough, but their words are still coming
    opening.hooks.caller_busy = False
    await until(lambda: opening.hooks.did)
    assert opening.hooks.did == [("greet", "")] and not opening.waiting


async def test_a_callee_hello_ends_the_wait_but_words_before_a_verdict_do_not(make):
    callee = make("callee")
    callee.begin()
    assert callee.callee_spoke() is True and not callee.waiting

    machine = make("machine_verdict")
    machine.begin()
    assert machine.callee_spoke() is False and machine.waiting


@pytest.mark.parametrize(
    ("answered_by", "voicemail", "expected"),
    [
        ("human", "", ("greet", "")),
        ("unknown", "", ("greet", "")),
        ("machine_end_beep", "Call us back.", ("voicemail", "Call us back.")),
        ("machine_start", "", ("hang_up", "answering_machine")),
        ("fax", "Call us back.", ("hang_up", "fax")),
    ],
)
async def test_the_verdict_decides_the_first_words(make, answered_by, voicemail, expected):
    opening = make("machine_verdict", voicemail=voicemail)
    opening.begin()
    await opening.verdict(answered_by)
    await opening.verdict("human")  # a second, late verdict changes nothing
    assert opening.hooks.did == [expected] and not opening.waiting


async def test_no_verdict_in_time_greets_as_for_a_human(make):
    opening = make("machine_verdict", verdict_timeout=0.05)
    opening.begin()
    await until(lambda: opening.hooks.did)
    assert opening.hooks.did == [("greet", "")]
    assert opening.recorder.events == [("amd", {"answered_by": "", "reason": "no verdict in time"})]


async def test_staff_speaking_first_ends_the_wait(make):
    opening = make("machine_verdict")
    opening.begin()
    opening.stop_waiting()
    await opening.verdict("machine_start")
    assert opening.hooks.did == [] and not opening.waiting
