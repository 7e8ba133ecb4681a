"""A permanent provider error (401, 403, an unknown model or voice) opens that provider's breaker
at once, and is logged once as such; transient errors still need three in a row."""

from __future__ import annotations

import logging

from calls.engine.speech import Speaker
from calls.providers.base import ProviderError, TextDelta
from calls.providers.groq_llm import GroqLLM
from calls.providers.resilience import CircuitBreaker, FallbackLLM, breaker_for
from calls.tests.doubles import ToneTTS
from calls.tests.fakes import FakeChatCompletions

MESSAGES = [{"role": "user", "content": "Hello?"}]


class Backup:
    name = "backup"

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, messages, tools):
        self.calls += 1
        yield TextDelta("Hello from the backup.")


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "refused permanently" in r.getMessage()]


def test_a_permanent_error_opens_the_breaker_at_once_and_for_longer(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("calls.providers.resilience.time.monotonic", lambda: now[0])
    breaker = CircuitBreaker("llm:x", threshold=3, cooldown=30, permanent_cooldown=300)
    breaker.record_failure(ProviderError("HTTP 500", permanent=False))
    assert breaker.allow()
    breaker.record_failure(ProviderError("HTTP 401", permanent=True))
    assert not breaker.allow()
    now[0] += 60
    assert not breaker.allow()  # a transient opening would have half-opened by now
    now[0] += 241
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure(ProviderError("HTTP 500", permanent=False))
    assert breaker.allow()  # back to counting transient failures


async def test_a_401_from_the_real_sdk_opens_the_breaker_and_is_logged_once(caplog):
    caplog.set_level(logging.ERROR, logger="calls.providers.resilience")
    backup = Backup()
    async with FakeChatCompletions(mode="401") as server:
        primary = GroqLLM(api_key="gsk-wrong", base_url=server.url, timeout=2)
        llm = FallbackLLM(primary, backup)
        for _ in range(3):
            events = [e async for e in llm.stream(MESSAGES, [])]
            assert events == [TextDelta("Hello from the backup.")]
        assert len(server.requests) == 1  # the second and third turns skip Groq at once
    assert not breaker_for("llm:groq").allow()
    assert backup.calls == 3
    records = refusals(caplog)
    assert len(records) == 1
    assert "groq" in records[0].getMessage() and "401" in records[0].getMessage()
    assert "gsk-wrong" not in caplog.text


async def test_transient_errors_still_take_three_in_a_row(caplog):
    backup = Backup()
    async with FakeChatCompletions(mode="500") as server:
        llm = FallbackLLM(GroqLLM(api_key="gsk-test", base_url=server.url, timeout=2), backup)
        for _ in range(2):
            [e async for e in llm.stream(MESSAGES, [])]
        assert breaker_for("llm:groq").allow()
        assert not refusals(caplog)


class RefusingTTS(ToneTTS):
    def __init__(self) -> None:
        super().__init__(name="refusing")
        self.calls = 0

    async def synthesize(self, text, *, voice="", language="en"):
        self.calls += 1
        raise ProviderError("unknown voice", permanent=True, provider=self.name)
        yield b""  # pragma: no cover


async def test_an_unknown_voice_opens_the_tts_breaker_at_once():
    primary = RefusingTTS()
    speaker = Speaker(primary, ToneTTS())
    for _ in range(2):
        audio = b"".join([c async for c in speaker.synthesize("Hello there.")])
        assert audio
    assert primary.calls == 1
