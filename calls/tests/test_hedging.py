"""Failover inside the latency budget: a primary that has not answered within a short deadline
has its fallback started alongside, and the first to answer wins.

Tried from outside with every cloud provider hanging, the greeting came 2.6 s after the answer,
the recogniser took 10 s to give up, and each reply paid the LLM and TTS timeouts in full. Here
every real adapter (Deepgram, Groq, ElevenLabs) talks to a local server that accepts and never
answers, with the providers' timeout at 2 s as in that probe."""

from __future__ import annotations

import asyncio
import time

import pytest

from calls.providers.base import ProviderError, TextDelta
from calls.providers.deepgram_stt import DeepgramSTT
from calls.providers.elevenlabs_tts import ElevenLabsTTS
from calls.providers.groq_llm import GroqLLM
from calls.providers.resilience import first_answer
from calls.tests.conftest import speak, until
from calls.tests.doubles import ScriptedSTT, ToneTTS
from calls.tests.fakes import FakeChatCompletions, FakeDeepgramListen, FakeElevenLabs

HEDGE = 0.4  # the default PROVIDER_HEDGE_MS
BUDGET = 1.5  # seconds: the greeting after the answer, a reply after the end of speech


async def items(*values, delay: float = 0.0, fail: bool = False, log: list | None = None):
    try:
        await asyncio.sleep(delay)
        if fail:
            raise ProviderError("down", provider="x")
        for value in values:
            yield value
    finally:
        if log is not None:
            log.append("closed")


async def test_a_prompt_primary_wins_and_the_fallback_is_never_started():
    started = []

    def fallback():
        started.append(1)
        return items("b")

    race = await first_answer(items("a1", "a2"), fallback, HEDGE)
    assert race.winner == "primary" and race.first == "a1" and race.primary_error is None
    assert [x async for x in race.rest] == ["a2"]
    assert started == []


async def test_a_slow_primary_is_hedged_and_cancelled_when_the_fallback_answers_first():
    closed: list[str] = []
    t0 = time.monotonic()
    race = await first_answer(items("a", delay=30, log=closed), lambda: items("b"), HEDGE)
    assert race.winner == "fallback" and race.first == "b"
    assert HEDGE <= time.monotonic() - t0 < HEDGE + 0.3
    assert "no answer within 0.4s" in str(race.primary_error)
    assert closed == ["closed"]  # the primary's stream was cancelled and closed


async def test_a_slow_primary_that_still_answers_first_wins():
    closed: list[str] = []
    race = await first_answer(
        items("a", delay=HEDGE + 0.1), lambda: items("b", delay=5, log=closed), HEDGE
    )
    assert race.winner == "primary" and race.first == "a"
    assert closed == ["closed"]


async def test_a_primary_that_fails_at_once_hands_over_at_once():
    t0 = time.monotonic()
    race = await first_answer(items("a", fail=True), lambda: items("b"), HEDGE)
    assert race.winner == "fallback" and time.monotonic() - t0 < HEDGE
    assert str(race.primary_error) == "down"


async def test_when_neither_answers_the_error_is_raised():
    with pytest.raises(ProviderError):
        await first_answer(items(fail=True), lambda: items(fail=True), HEDGE)


async def test_a_hedged_call_that_is_itself_cancelled_leaves_nothing_running():
    closed: list[str] = []
    task = asyncio.ensure_future(
        first_answer(
            items("a", delay=30, log=closed), lambda: items("b", delay=30, log=closed), 0.05
        )
    )
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert closed == ["closed", "closed"]


@pytest.mark.django_db(transaction=True)
async def test_with_every_cloud_provider_hanging_greeting_and_replies_come_within_budget(
    build_session,
):
    from calls.providers.scripted import ScriptedBrain
    from calls.tools import registry

    async with (
        FakeDeepgramListen(mode="hang") as deepgram,
        FakeChatCompletions(mode="hang") as groq,
        FakeElevenLabs(mode="hang") as elevenlabs,
    ):
        sent_at: list[float] = []
        t0 = time.monotonic()
        session, transport = await build_session(
            stt=DeepgramSTT(api_key="dg", environment_url=deepgram.url, connect_timeout=2),
            stt_fallback=ScriptedSTT(["what are your hours", "is there parking"]),
            llm=GroqLLM(api_key="gsk", base_url=groq.url, timeout=2),
            tts=ElevenLabsTTS(api_key="el", base_url=elevenlabs.url, timeout=2),
            tts_fallback=ToneTTS(name="backup"),
            llm_timeout=2.0,
            tts_timeout=2.0,
            hedge_after=HEDGE,
        )
        session.llm.fallback = ScriptedBrain(
            registry.for_agent(["lookup_info"]), session.tool_context
        )

        async def watch() -> None:  # when each piece of agent audio reached the carrier
            seen = 0
            while True:
                media = sum(1 for kind, _ in transport.sent if kind == "media")
                if media > seen:
                    sent_at.append(time.monotonic())
                    seen = media
                await asyncio.sleep(0.005)

        watcher = asyncio.ensure_future(watch())
        await until(lambda: bool(sent_at), timeout=5)
        assert sent_at[0] - t0 < BUDGET  # the greeting
        for answer in ("We are open from nine to five.", "Park behind the shop."):
            await until(lambda: not session.agent_active, timeout=10)
            await speak(session)
            spoke_at = time.monotonic()
            await until(lambda a=answer: session.messages[-1].get("content") == a, timeout=5)
            await until(lambda t=spoke_at: sent_at[-1] > t, timeout=5)
            first = next(t for t in sent_at if t > spoke_at)
            assert first - spoke_at < BUDGET, first - spoke_at
        watcher.cancel()
        await session.close()
    assert deepgram.paths and groq.requests and elevenlabs.requests  # each was tried first


async def test_a_hanging_groq_hands_the_turn_to_the_fallback_after_the_hedge():
    class Backup:
        name = "backup"

        async def stream(self, messages, tools):
            yield TextDelta("From the backup.")

    from calls.providers.resilience import FallbackLLM

    async with FakeChatCompletions(mode="hang") as groq:
        llm = FallbackLLM(
            GroqLLM(api_key="gsk", base_url=groq.url, timeout=5),
            Backup(),
            first_timeout=5,
            idle_timeout=5,
            hedge_after=HEDGE,
        )
        t0 = time.monotonic()
        events = [e async for e in llm.stream([{"role": "user", "content": "hi"}], [])]
        assert time.monotonic() - t0 < HEDGE + 0.5
    assert events == [TextDelta("From the backup.")]


async def test_a_slow_local_provider_is_not_hedged():
    """A local provider is CPU-bound: starting its fallback alongside only competes for the same
    cores (under load the robotic fallback voice won the greeting). It is waited for."""
    from calls.engine.speech import Speaker

    class SlowLocalVoice(ToneTTS):
        remote = False

        async def synthesize(self, text, *, voice="", language="en"):
            await asyncio.sleep(HEDGE + 0.3)
            async for chunk in super().synthesize(text, voice=voice, language=language):
                yield chunk

    primary, backup = SlowLocalVoice(name="piper-like"), ToneTTS(name="backup")
    speaker = Speaker(primary, backup, first_timeout=5, idle_timeout=5, hedge_after=HEDGE)
    audio = b"".join([c async for c in speaker.synthesize("Hello there.")])
    assert audio and primary.spoken == ["Hello there."] and backup.spoken == []
